#!/usr/bin/env bash
# Warm store vs empty store: A builds into a store holding only the inputs (no cached layer
# trees or segments); B builds again from the same store, where every layer tree and segment is
# now cached. Every output must be identical — including manifest.json.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="cold vs warm store"
reused() { python3 -c 'import json,sys; print(" ".join(str(l["segment"]["reused"]).lower() for l in json.load(open(sys.argv[1]))["layers"] if "segment" in l))' "$1"; }
trees() { python3 -c 'import json,sys; print(" ".join(str(l["reused"]).lower() for l in json.load(open(sys.argv[1]))["layers"]))' "$1"; }
for name in "${REPRO_RECIPES[@]}"; do
  fresh_store "$name" "$WORK/$name/store"
  BUILD_FLAGS=--json run_build "$name" "$WORK/$name/store" "$WORK/$name/a"
  BUILD_FLAGS=--json run_build "$name" "$WORK/$name/store" "$WORK/$name/b"
  # The variation reached the builds: the first compressed every segment, the second reused all.
  ra=$(reused "$WORK/$name/a.log") rb=$(reused "$WORK/$name/b.log")
  [[ $ra != *true* ]] || fail "$name: the cold build reused segments: $ra"
  [[ -n $rb && $rb != *false* ]] || fail "$name: the warm build did not reuse every segment: $rb"
  ta=$(trees "$WORK/$name/a.log") tb=$(trees "$WORK/$name/b.log")
  [[ $ta != *true* ]] || fail "$name: the cold build reused layer trees: $ta"
  [[ -n $tb && $tb != *false* ]] || fail "$name: the warm build did not reuse every layer tree: $tb"
  same_outputs "$name" "$WORK/$name/a" "$WORK/$name/b"
done
echo "repro warm_store: ok"
