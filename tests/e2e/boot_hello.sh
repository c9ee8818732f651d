#!/usr/bin/env bash
# The example images really boot: recipes/hello (Debian 12: stub 252, Linux 6.1) and
# recipes/hello-trixie (Debian 13: stub 257, Linux 6.12), built by tdximg, booted under QEMU q35
# with Debian's OVMF (Secure Boot off) from disk.raw and from disk.vhd (-drive format=vpc).
# Pass only if the init's banner appears and it reports every module the recipe asked it to
# load as loaded (from /sys/module).
source "$(dirname "$0")/../cli/lib/common.sh"
source "$TDXIMG_SOURCE_DIR/tests/e2e/lib/qemu.sh"
set +e  # the harness reports failures through return codes
e2e_require_qemu
recipes=$(locked_recipes) || exit 1
fails=0
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }

for r in hello hello-trixie; do
  out=$WORK/$r
  "$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" build "$recipes/$r" -o "$out" || { bad "$r: build"; continue; }
  mods=$(grep -o '"/etc/hello-modules", "text": "[^"]*' "$recipes/$r/recipe.json" | sed 's/.*"text": "//; s/\\n//')
  for img in disk.raw disk.vhd; do
    log=$WORK/$r-$img.log
    e2e_boot "$out/$img" "$log" --expect "=== tdximg hello: done ===" || { bad "$r $img: boot (rc $?)"; continue; }
    grep -q "=== tdximg hello: $r\|=== tdximg hello: hello" "$log" || bad "$r $img: no banner"
    for m in $mods; do
      state=$(e2e_module_state "$log" "$m")
      [[ $state == loaded ]] && echo "ok   - $r $img: module $m loaded" || bad "$r $img: module $m is '${state:-absent}'"
    done
    echo "# $r $img booted in ${E2E_LAST_BOOT_SECONDS:-?} s"
  done
done
((fails == 0)) && echo "boot_hello: ok" || exit 1
