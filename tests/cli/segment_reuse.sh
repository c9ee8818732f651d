#!/usr/bin/env bash
# Changing only the top layer rebuilds only its tree and recompresses only its segment: the
# build report (--json) says which layer trees and segments were reused from the store, and the
# outputs equal a build into an empty store.
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
trees() { python3 -c 'import json,sys; print(" ".join(str(l["reused"]).lower() for l in json.load(open(sys.argv[1]))["layers"]))' "$1"; }
[[ $(trees "$WORK/a.json") == "false false false" ]] || fail "first build into an empty store reused layer trees: $(trees "$WORK/a.json")"

# Change the app layer only.
sed -i 's|hello (bookworm)|hello (bookworm, changed)|' "$WORK/r/hello/recipe.json"
"$TDXIMG" --json --cache "$store" --offline build "$WORK/r/hello" -o "$WORK/b" > "$WORK/b.json"
[[ $(reused "$WORK/b.json") == "true true false" ]] || fail "after changing the app layer, reused = $(reused "$WORK/b.json") (want true true false)"
[[ $(trees "$WORK/b.json") == "true true false" ]] || fail "after changing the app layer, layer trees reused = $(trees "$WORK/b.json") (want true true false)"
cmp -s "$WORK/a/uki.efi" "$WORK/b/uki.efi" && fail "the UKI did not change"
# The same recipe built into a store holding only the inputs gives the same bytes.
"$TDXIMG" -q --cache "$WORK/store2" store import "$WORK/inputs.tar" >/dev/null
"$TDXIMG" -q --cache "$WORK/store2" --offline build "$WORK/r/hello" -o "$WORK/b2"
for f in "$WORK"/b/*; do cmp -s "$f" "$WORK/b2/$(basename "$f")" || fail "$(basename "$f") differs between a cached and an uncached build"; done

# Changing only the cmdline recompresses nothing.
sed -i 's|"console=ttyS0 panic=-1"|"console=ttyS0 panic=-1 quiet"|' "$WORK/r/hello/recipe.json"
"$TDXIMG" --json --cache "$store" --offline build "$WORK/r/hello" -o "$WORK/c" > "$WORK/c.json"
[[ $(reused "$WORK/c.json") == "true true true" ]] || fail "after changing the cmdline, reused = $(reused "$WORK/c.json")"
[[ $(trees "$WORK/c.json") == "true true true" ]] || fail "after changing the cmdline, layer trees reused = $(trees "$WORK/c.json")"
cmp -s "$WORK/b/initramfs.cpio.zst" "$WORK/c/initramfs.cpio.zst" || fail "initramfs changed with the cmdline"
echo "segment_reuse: ok"
