#!/usr/bin/env bash
# -j1 vs -j2: the number of threads never changes the output.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="-j1 vs -j2"
for name in "${REPRO_RECIPES[@]}"; do
  fresh_store "$name" "$WORK/$name/store-a"
  fresh_store "$name" "$WORK/$name/store-b"
  BUILD_FLAGS=-j1 run_build "$name" "$WORK/$name/store-a" "$WORK/$name/a"
  # -j2 with a thread probe: sample the build's thread count while it runs.
  BUILD_FLAGS=-j2 run_build "$name" "$WORK/$name/store-b" "$WORK/$name/b" &
  bpid=$!
  max=1
  while kill -0 "$bpid" 2>/dev/null; do
    for p in $(pgrep -f -- "--cache $WORK/$name/store-b" || true); do
      n=$(awk '/^Threads:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 1)
      (( n > max )) && max=$n
    done
    sleep 0.2
  done
  wait "$bpid" || fail "build B failed"
  note "$name: -j2 build reached $max threads"
  (( max >= 2 )) || note "$name: warning: never saw more than one thread (the build may have been too quick to sample)"
  same_outputs "$name" "$WORK/$name/a" "$WORK/$name/b"
done
echo "repro jobs: ok"
