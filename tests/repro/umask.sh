#!/usr/bin/env bash
# umask 0022 vs 0002. Every output must be identical (and output files get fixed modes).
source "$(dirname "$0")/lib/repro.sh"
VARIATION="umask 0022 vs 0002"
for name in "${REPRO_RECIPES[@]}"; do
  repro_pair "$name" bash -c 'umask 0022; exec "$@"' umask "$PROBE" "$WORK/$name/probe-a" umask -- \
                     bash -c 'umask 0002; exec "$@"' umask "$PROBE" "$WORK/$name/probe-b" umask
  [[ $(cat "$WORK/$name/probe-a") == 0022 && $(cat "$WORK/$name/probe-b") == 0002 ]] ||
    fail "umask did not reach the build: $(cat "$WORK/$name/probe-a") / $(cat "$WORK/$name/probe-b")"
  # tdximg itself ran with it: it created the output directories, whose modes show the umask.
  [[ $(stat -c %a "$WORK/$name/a") == 755 && $(stat -c %a "$WORK/$name/b") == 775 ]] ||
    fail "output directory modes $(stat -c %a "$WORK/$name/a") / $(stat -c %a "$WORK/$name/b") do not show the umask"
  [[ $(stat -c %a "$WORK/$name/b/uki.efi") == 644 ]] || fail "output file mode depends on the umask"
done
echo "repro umask: ok"
