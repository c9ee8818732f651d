# Shared helpers for tests/cli/*.sh and tests/e2e/*.sh (sourced).
# Environment from ctest: TDXIMG (the binary), TDXIMG_SOURCE_DIR, TDXIMG_BINARY_DIR.
set -euo pipefail
: "${TDXIMG_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
: "${TDXIMG_BINARY_DIR:=$TDXIMG_SOURCE_DIR/build}"
: "${TDXIMG:=$TDXIMG_BINARY_DIR/tdximg}"
export TDXIMG TDXIMG_SOURCE_DIR TDXIMG_BINARY_DIR

# A store shared by the tests that do not test the store itself: downloads happen once.
: "${TDXIMG_TEST_STORE:=$TDXIMG_BINARY_DIR/test-store}"
mkdir -p "$TDXIMG_TEST_STORE"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tdximg-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*" >&2; }

# locked_tree: a copy of recipes/ and tests/e2e/probe/ (keeping their relative layout, since
# recipes refer to each other by relative paths) locked against what the mirror serves now.
# Lock files are written next to the recipes, so tests never lock the checkout itself. The copy
# is shared by the tests of one run (flock) and re-locked when older than an hour or when the
# sources changed.
locked_tree() {
  local dir=$TDXIMG_BINARY_DIR/test-tree stamp
  stamp=$dir/.locked
  (
    flock 9
    if [[ ! -f $stamp ]] || [[ -n $(find "$stamp" -mmin +60) ]] ||
       ! diff -qr --exclude='*.lock.json' "$TDXIMG_SOURCE_DIR/recipes" "$dir/recipes" >/dev/null 2>&1 ||
       ! diff -qr --exclude='*.lock.json' "$TDXIMG_SOURCE_DIR/tests/e2e/probe" "$dir/tests/e2e/probe" >/dev/null 2>&1; then
      rm -rf "$dir"
      mkdir -p "$dir/tests/e2e"
      cp -r "$TDXIMG_SOURCE_DIR/recipes" "$dir/recipes"
      cp -r "$TDXIMG_SOURCE_DIR/tests/e2e/probe" "$dir/tests/e2e/probe"
      rm -f "$dir"/recipes/*/*.lock.json "$dir"/tests/e2e/probe/*/*.lock.json
      for r in recipes/hello recipes/hello-trixie tests/e2e/probe/bookworm tests/e2e/probe/trixie; do
        [[ -f $dir/$r/recipe.json ]] || continue
        "$TDXIMG" --cache "$TDXIMG_TEST_STORE" -q lock "$dir/$r" >&2
      done
      touch "$stamp"
    fi
  ) 9>"$TDXIMG_BINARY_DIR/.test-tree.lock"
  echo "$dir"
}
locked_recipes() { echo "$(locked_tree)/recipes"; }

# sha_all DIR: "sha256  name" for every regular file in DIR, sorted by name.
sha_all() { (cd "$1" && find . -maxdepth 1 -type f -printf '%P\n' | LC_ALL=C sort | xargs -r sha256sum); }

# tree_state DIR: names, sizes, modes and content digests of everything in DIR (incl. hidden).
tree_state() { (cd "$1" && find . -printf '%p %y %s %m\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum); }
