#!/usr/bin/env bash
# An extra PATH entry first in B: a directory whose gzip, zstd, xz, cpio, tar, mkfs.fat, objcopy
# and ukify fail loudly and leave a mark. tdximg writes every format itself, so it must neither
# run them nor produce other bytes. Every output must be identical.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="extra PATH entry"
shims=$WORK/shims
mkdir -p "$shims"
for t in gzip zstd xz cpio tar mkfs.fat mkfs.vfat objcopy ukify sgdisk; do
  printf '#!/bin/sh\necho "%s $*" >> %s/ran\nexit 99\n' "$t" "$shims" > "$shims/$t"
  chmod 0755 "$shims/$t"
done
for name in "${REPRO_RECIPES[@]}"; do
  repro_pair "$name" "$PROBE" "$WORK/$name/probe-a" 'command -v zstd || echo none' -- \
                     env PATH="$shims:$PATH" "$PROBE" "$WORK/$name/probe-b" 'command -v zstd'
  [[ $(cat "$WORK/$name/probe-b") == "$shims/zstd" ]] || fail "the PATH entry did not reach build B: $(cat "$WORK/$name/probe-b")"
  [[ ! -e $shims/ran ]] || fail "tdximg ran host tools from PATH: $(cat "$shims/ran")"
done
echo "repro path: ok"
