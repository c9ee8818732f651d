#!/usr/bin/env bash
# Changing only the top layer recompresses only its segment: the build report (--json) says
# which segments were reused from the store, and the unchanged segments' bytes are identical.
source "$(dirname "$0")/lib/common.sh"
recipes=$(locked_recipes)
cp -r "$recipes" "$WORK/r"
store=$WORK/store
# Seed the private store with the inputs (no refetch), but with no cached segments.
"$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" store export "$WORK/r/hello" -o "$WORK/inputs.tar"
"$TDXIMG" -q --cache "$store" store import "$WORK/inputs.tar" >/dev/null

"$TDXIMG" --json --cache "$store" --offline build "$WORK/r/hello" -o "$WORK/a" > "$WORK/a.json"
reused() { python3 -c 'import json,sys; print(" ".join(str(l["segment"]["reused"]).lower() for l in json.load(open(sys.argv[1]))["layers"] if "segment" in l))' "$1"; }
[[ $(reused "$WORK/a.json") == "false false false" ]] || fail "first build into an empty segment cache reused: $(reused "$WORK/a.json")"

# Change the app layer only.
sed -i 's|hello (bookworm)|hello (bookworm, changed)|' "$WORK/r/hello/recipe.json"
"$TDXIMG" --json --cache "$store" --offline build "$WORK/r/hello" -o "$WORK/b" > "$WORK/b.json"
[[ $(reused "$WORK/b.json") == "true true false" ]] || fail "after changing the app layer, reused = $(reused "$WORK/b.json") (want true true false)"
cmp -s "$WORK/a/uki.efi" "$WORK/b/uki.efi" && fail "the UKI did not change"

# Changing only the cmdline recompresses nothing.
sed -i 's|"console=ttyS0 panic=-1"|"console=ttyS0 panic=-1 quiet"|' "$WORK/r/hello/recipe.json"
"$TDXIMG" --json --cache "$store" --offline build "$WORK/r/hello" -o "$WORK/c" > "$WORK/c.json"
[[ $(reused "$WORK/c.json") == "true true true" ]] || fail "after changing the cmdline, reused = $(reused "$WORK/c.json")"
cmp -s "$WORK/b/initramfs.cpio.zst" "$WORK/c/initramfs.cpio.zst" || fail "initramfs changed with the cmdline"
echo "segment_reuse: ok"
