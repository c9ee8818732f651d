#!/usr/bin/env bash
# Time zone: TZ=GMT+12 vs TZ=GMT-14 (26 hours apart). Every output must be identical.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="TZ GMT+12 vs GMT-14"
for name in "${REPRO_RECIPES[@]}"; do
  repro_pair "$name" env TZ=GMT+12 "$PROBE" "$WORK/$name/probe-a" 'date +%z' -- \
                     env TZ=GMT-14 "$PROBE" "$WORK/$name/probe-b" 'date +%z'
  [[ $(cat "$WORK/$name/probe-a") == -1200 && $(cat "$WORK/$name/probe-b") == +1400 ]] ||
    fail "TZ did not reach the build: $(cat "$WORK/$name/probe-a") / $(cat "$WORK/$name/probe-b")"
done
echo "repro timezone: ok"
