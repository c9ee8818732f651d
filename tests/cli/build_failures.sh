#!/usr/bin/env bash
# Failures leave the output directory exactly as it was:
#  - a failure injected at the last step (after every output was staged),
#  - one changed byte in a pinned input (exit 4, naming the input and both digests),
#  - an unpinned input (exit 3, saying to run `tdximg lock`),
#  - --offline with an empty store (exit 6, naming the missing input).
source "$(dirname "$0")/lib/common.sh"
recipes=$(locked_recipes)
out=$WORK/out
"$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" build "$recipes/hello" -o "$out"
echo "an operator's note" > "$out/NOTES.txt"
before=$(tree_state "$out")

expect_exit() { # CODE MESSAGE-REGEX -- command...
  local code=$1 re=$2; shift 3
  set +e; "$@" > "$WORK/stdout" 2> "$WORK/stderr"; local rc=$?; set -e
  [[ $rc -eq $code ]] || { cat "$WORK/stderr"; fail "expected exit $code, got $rc: $*"; }
  grep -Eq "$re" "$WORK/stderr" || { cat "$WORK/stderr"; fail "stderr does not match /$re/"; }
  [[ "$(tree_state "$out")" == "$before" ]] || fail "output directory changed after a failed build: $*"
}

note "failure injected after staging, before publishing"
TDXIMG_TEST_FAIL_AT=publish expect_exit 70 "injected failure at step 'publish'" -- \
  "$TDXIMG" --cache "$TDXIMG_TEST_STORE" build "$recipes/hello" -o "$out"

note "one byte of a pinned input changed"
cp -r "$recipes" "$WORK/r"
printf 'X' | dd of="$WORK/r/hello/init" bs=1 seek=10 conv=notrunc 2>/dev/null
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["inputs"]["init"]["sha256"])' "$WORK/r/hello/recipe.lock.json")
got=$(sha256sum < "$WORK/r/hello/init" | cut -d' ' -f1)
expect_exit 4 "init.*$want.*$got|init.*$got.*$want" -- \
  "$TDXIMG" --cache "$TDXIMG_TEST_STORE" build "$WORK/r/hello" -o "$out"

note "unpinned input"
rm "$WORK/r/hello/recipe.lock.json"
expect_exit 3 "tdximg lock" -- "$TDXIMG" --cache "$TDXIMG_TEST_STORE" build "$WORK/r/hello" -o "$out"

note "offline with an empty store"
expect_exit 6 "(kernel|stub|busybox).*(not in the store|offline)" -- \
  "$TDXIMG" --cache "$WORK/empty-store" --offline build "$recipes/hello" -o "$out"

# No staging directory is left behind anywhere in the output directory.
[[ -z $(find "$out" -name '.tdximg-staging-*') ]] || fail "staging directory left behind"
echo "build_failures: ok"
