#!/usr/bin/env bash
# Clock a year ahead: B runs under faketime -f '+365d' (SOURCE_DATE_EPOCH unchanged: unset in both
# builds, so the recipe's value applies). Every output must be identical.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="clock +365 days (faketime)"
command -v faketime >/dev/null || { echo "faketime not installed (scripts/setup --test)"; exit 125; }
for name in "${REPRO_RECIPES[@]}"; do
  repro_pair "$name" env -u SOURCE_DATE_EPOCH "$PROBE" "$WORK/$name/probe-a" 'date +%s' -- \
                     env -u SOURCE_DATE_EPOCH faketime -f '+365d' "$PROBE" "$WORK/$name/probe-b" 'date +%s'
  # The shift reached the process that exec'd tdximg (faketime's LD_PRELOAD and FAKETIME stay
  # in its environment across exec).
  ta=$(cat "$WORK/$name/probe-a") tb=$(cat "$WORK/$name/probe-b")
  (( tb - ta > 364 * 86400 )) || fail "the clock shift did not reach the build: $ta vs $tb"
done
echo "repro clock: ok"
