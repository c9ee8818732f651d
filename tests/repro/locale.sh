#!/usr/bin/env bash
# Locale: LC_ALL=C.UTF-8 vs LC_ALL=et_EE.UTF-8 (generated with localedef into a private
# LOCPATH: no root needed; Estonian collates 'z' between 's' and 't' and names months in
# Estonian). Every output must be identical.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="locale C.UTF-8 vs et_EE.UTF-8"
[[ -f /usr/share/i18n/locales/et_EE ]] || { echo "locale sources missing (install 'locales': scripts/setup --test)"; exit 125; }
locales=$WORK/locales
mkdir -p "$locales"
localedef -i et_EE -f UTF-8 "$locales/et_EE.UTF-8" 2>/dev/null || [[ -d $locales/et_EE.UTF-8 ]] ||
  fail "localedef could not generate et_EE.UTF-8"
chmod -R a+rX "$locales"
for name in "${REPRO_RECIPES[@]}"; do
  repro_pair "$name" env LC_ALL=C.UTF-8 "$PROBE" "$WORK/$name/probe-a" 'date -u -d @0 +%B' -- \
                     env LC_ALL=et_EE.UTF-8 LOCPATH="$locales" "$PROBE" "$WORK/$name/probe-b" 'date -u -d @0 +%B'
  [[ $(cat "$WORK/$name/probe-a") == January ]] || fail "build A locale: $(cat "$WORK/$name/probe-a")"
  [[ $(cat "$WORK/$name/probe-b") == jaanuar ]] || fail "the et_EE locale did not reach build B: $(cat "$WORK/$name/probe-b")"
done
echo "repro locale: ok"
