#!/usr/bin/env bash
# Input directory trees created in a different order: a copy of each recipe gains a `path`
# input that is a directory (files, a subdirectory, a symlink), created in one order for A and
# in the reverse order (other inode numbers and readdir order) for B, extracted into the image.
# The lock files and every output must be identical. Then the same through disorderfs (which
# shuffles readdir order) when it can be installed and FUSE works; else that part is skipped
# with a note.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="input directory tree creation order"
make_tree() { # DIR ORDER(forward|reverse)
  local d=$1 i
  local -a names=(alpha zeta beta sub/gamma sub/omega mid)
  [[ $2 == reverse ]] && names=(mid sub/omega sub/gamma beta zeta alpha)
  mkdir -p "$d"
  for i in "${names[@]}"; do
    mkdir -p "$d/$(dirname "$i")"
    echo "file $i" > "$d/$i"
  done
  ln -s alpha "$d/link-to-alpha"
}
add_tree_input() { # RECIPES_COPY NAME
  python3 - "$1/$2/recipe.json" <<'PY'
import json, re, sys
p = sys.argv[1]
text = open(p).read()
# Drop // comments (the recipe format allows them; json does not).
text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
r = json.loads(text)
r["inputs"]["tree"] = {"path": "tree"}
r["layers"].append({"name": "tree", "ops": [{"extract": "tree", "to": "/opt/tree"}]})
open(p, "w").write(json.dumps(r, indent=2) + "\n")
PY
}
disorder_note="disorderfs: not tried"
for name in "${REPRO_RECIPES[@]}"; do
  mkdir -p "$WORK/$name"
  for side in a b; do
    cp -r "$(dirname "$RECIPES")" "$WORK/$name/tree-$side"
    make_tree "$WORK/$name/tree-$side/recipes/$name/tree" "$([[ $side == a ]] && echo forward || echo reverse)"
    add_tree_input "$WORK/$name/tree-$side/recipes" "$name"
    fresh_store "$name" "$WORK/$name/store-$side"
    # Pin the new input: the deb pins come from the copied lock file (offline lock reuses them).
    "$TDXIMG" -q --offline --cache "$WORK/$name/store-$side" lock "$WORK/$name/tree-$side/recipes/$name" >/dev/null ||
      fail "$name: offline lock of the recipe with a directory input failed"
  done
  # The variation is real: the two trees list in different orders.
  [[ $(ls -U "$WORK/$name/tree-a/recipes/$name/tree") != $(ls -U "$WORK/$name/tree-b/recipes/$name/tree") ]] ||
    note "$name: warning: both trees list in the same readdir order on this file system"
  cmp "$WORK/$name/tree-a/recipes/$name/recipe.lock.json" "$WORK/$name/tree-b/recipes/$name/recipe.lock.json" ||
    fail "$name: the lock files differ (the directory input's digest depends on creation order)"
  RECIPE_ROOT=$WORK/$name/tree-a/recipes run_build "$name" "$WORK/$name/store-a" "$WORK/$name/a"
  RECIPE_ROOT=$WORK/$name/tree-b/recipes run_build "$name" "$WORK/$name/store-b" "$WORK/$name/b"
  same_outputs "$name" "$WORK/$name/a" "$WORK/$name/b"

  # disorderfs: B's recipe tree seen through a FUSE mount with shuffled directory order.
  if command -v disorderfs >/dev/null && [[ -c /dev/fuse ]]; then
    mkdir -p "$WORK/$name/mnt"
    if disorderfs --shuffle-dirents=yes "$WORK/$name/tree-b" "$WORK/$name/mnt" >/dev/null 2>&1; then
      mnt=$WORK/$name/mnt
      trap 'fusermount -u "$mnt" 2>/dev/null; rm -rf "$WORK"' EXIT
      fresh_store "$name" "$WORK/$name/store-c"
      RECIPE_ROOT=$WORK/$name/mnt/recipes run_build "$name" "$WORK/$name/store-c" "$WORK/$name/c"
      fusermount -u "$mnt"
      trap 'rm -rf "$WORK"' EXIT
      same_outputs "$name" "$WORK/$name/a" "$WORK/$name/c"
      disorder_note="disorderfs: covered"
    else
      disorder_note="disorderfs: installed but the FUSE mount failed (no FUSE in this environment)"
    fi
  else
    disorder_note="disorderfs: not installed or no /dev/fuse (apt-get install disorderfs)"
  fi
done
note "$disorder_note"
echo "repro input_order: ok ($disorder_note)"
