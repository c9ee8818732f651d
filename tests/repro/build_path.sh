#!/usr/bin/env bash
# Build path and working directory: A builds a recipe tree at a short path from cwd /; B builds a
# copy of the tree under a directory more than 200 characters deep, from inside it, into an
# output directory there too. Every output must be identical.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="build path and working directory"
deep=$WORK/$(printf 'very-long-directory-name-%02d/' $(seq 1 9))
deep=${deep%/}
mkdir -p "$deep"
cp -r "$(dirname "$RECIPES")" "$deep/tree"
(( ${#deep} > 200 )) || fail "deep path is only ${#deep} characters"
for name in "${REPRO_RECIPES[@]}"; do
  fresh_store "$name" "$WORK/$name/store-a"
  fresh_store "$name" "$WORK/$name/store-b"
  (cd / && run_build "$name" "$WORK/$name/store-a" "$WORK/$name/a" "$PROBE" "$WORK/$name/probe-a" pwd)
  (cd "$deep" && RECIPE_ROOT=$deep/tree/recipes run_build "$name" "$WORK/$name/store-b" "$deep/out-$name" "$PROBE" "$WORK/$name/probe-b" pwd)
  # The variation reached the process: its cwd is the deep directory, and the recipe and output
  # paths it was given are deep too.
  [[ $(cat "$WORK/$name/probe-a") == / ]] || fail "cwd of build A: $(cat "$WORK/$name/probe-a")"
  [[ $(cat "$WORK/$name/probe-b") == "$deep" ]] || fail "cwd of build B: $(cat "$WORK/$name/probe-b")"
  same_outputs "$name" "$WORK/$name/a" "$deep/out-$name"
done
echo "repro build_path: ok"
