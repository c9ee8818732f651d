#!/usr/bin/env bash
# HOME unset (A) vs HOME set to another, empty directory (B); XDG_* unset in both. Every output
# must be identical.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="HOME unset vs elsewhere"
mkdir -p "$WORK/elsewhere"
for name in "${REPRO_RECIPES[@]}"; do
  repro_pair "$name" env -u HOME -u XDG_CACHE_HOME -u XDG_CONFIG_HOME "$PROBE" "$WORK/$name/probe-a" 'echo "${HOME-unset}"' -- \
                     env -u XDG_CACHE_HOME -u XDG_CONFIG_HOME HOME="$WORK/elsewhere" "$PROBE" "$WORK/$name/probe-b" 'echo "${HOME-unset}"'
  [[ $(cat "$WORK/$name/probe-a") == unset && $(cat "$WORK/$name/probe-b") == "$WORK/elsewhere" ]] ||
    fail "HOME did not reach the build: $(cat "$WORK/$name/probe-a") / $(cat "$WORK/$name/probe-b")"
done
echo "repro home: ok"
