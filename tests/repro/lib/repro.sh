# Shared helpers for tests/repro/*.sh (sourced; not a test itself: CMake globs tests/repro/*.sh
# only). Each repro test builds every example recipe twice, once per side of one variation,
# each build into its own EMPTY store seeded with the recipe's inputs only (`store export` from
# the shared test store, `store import` into the fresh one: no refetch, no cached segments),
# and requires identical sha256 for every output. On a difference the log shows `tdximg diff`.
source "$(dirname "${BASH_SOURCE[0]}")/../../cli/lib/common.sh"

# Recipes to cover (override with TDXIMG_REPRO_RECIPES="hello" for a quick local run).
read -r -a REPRO_RECIPES <<< "${TDXIMG_REPRO_RECIPES:-hello hello-trixie}"
RECIPES=$(locked_recipes)

# repro_inputs NAME: the archive of NAME's pinned inputs (exported once per test).
repro_inputs() {
  local name=$1 archive=$WORK/inputs-$1.tar
  if [[ ! -f $archive ]]; then
    "$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" store export "$RECIPES/$name" -o "$archive" >/dev/null
    chmod 0644 "$archive"
  fi
  echo "$archive"
}

# fresh_store NAME DIR: an empty store at DIR holding only NAME's inputs.
fresh_store() {
  local name=$1 dir=$2
  mkdir -p "$dir"
  "$TDXIMG" -q --cache "$dir" store import "$(repro_inputs "$name")" >/dev/null
}

# run_build NAME STORE OUT [WRAPPER...]: `tdximg build` of recipe NAME (under $RECIPE_ROOT,
# default the locked copy), offline (the store was seeded), run through WRAPPER (e.g. env VAR=x,
# faketime, setpriv, $PROBE); WRAPPER gets the command as its trailing arguments. Extra global
# flags from $BUILD_FLAGS (e.g. -j1). stdout and stderr go to OUT.log.
run_build() {
  local name=$1 store=$2 out=$3
  shift 3
  note "build $name -> $out${*:+ via: $*}"
  "$@" "$TDXIMG" -q --offline --cache "$store" ${BUILD_FLAGS:-} build "${RECIPE_ROOT:-$RECIPES}/$name" -o "$out" > "$out.log" 2>&1 ||
    { cat "$out.log" >&2; fail "build of $name failed${*:+ under: $*}"; }
}

# same_outputs NAME A B: every output of both builds exists and has the same sha256; otherwise
# show `tdximg diff A B` and fail.
same_outputs() {
  local name=$1 a=$2 b=$3 f
  # Every output the manifest lists, plus the manifest, must exist on both sides.
  for f in manifest.json $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["outputs"]))' "$a/manifest.json"); do
    [[ -s $a/$f && -s $b/$f ]] || fail "$name: output $f missing in $a or $b"
  done
  if ! diff <(sha_all "$a") <(sha_all "$b") >&2; then
    note "$name: outputs differ; tdximg diff:"
    "$TDXIMG" diff "$a" "$b" >&2 || true
    fail "$name: outputs differ between the two builds ($VARIATION)"
  fi
  note "$name: $(sha_all "$a" | wc -l) identical outputs ($VARIATION)"
}

# repro_pair NAME SIDE_A_WRAPPER -- SIDE_B_WRAPPER: the common case. Wrappers are words
# (possibly none) run before the tdximg command; "--" separates them.
repro_pair() {
  local name=$1
  shift
  local -a wa=() wb=()
  while [[ $# -gt 0 && $1 != -- ]]; do wa+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  wb=("$@")
  fresh_store "$name" "$WORK/$name/store-a"
  fresh_store "$name" "$WORK/$name/store-b"
  run_build "$name" "$WORK/$name/store-a" "$WORK/$name/a" "${wa[@]}"
  run_build "$name" "$WORK/$name/store-b" "$WORK/$name/b" "${wb[@]}"
  same_outputs "$name" "$WORK/$name/a" "$WORK/$name/b"
}

# $PROBE FILE 'shell command' CMD...: a wrapper that records what the process about to exec
# tdximg sees (the output of the shell command goes to FILE), then execs CMD. `exec` keeps the
# process and its environment, uid, umask, cwd and LD_PRELOAD for tdximg, so FILE shows what
# tdximg itself runs under. A file (not a function) so faketime/setpriv/env can exec it.
PROBE=$WORK/probe
cat > "$PROBE" <<'PROBE_EOF'
#!/usr/bin/env bash
file=$1 cmd=$2
shift 2
bash -c "$cmd" > "$file" 2>&1
exec "$@"
PROBE_EOF
chmod 0755 "$PROBE"
chmod 0755 "$WORK" # other uids (uid variation) must reach the probe and their directories
