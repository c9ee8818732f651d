#!/usr/bin/env bash
# Two builds of recipes/hello with a different TZ, umask, locale and working directory (and a
# different output path) give identical bytes for every output (issue: foundation, "done when").
source "$(dirname "$0")/lib/common.sh"
recipes=$(locked_recipes)

note "build A"
(cd / && TZ=GMT+12 LC_ALL=C.UTF-8 bash -c "umask 0022; '$TDXIMG' -q --cache '$TDXIMG_TEST_STORE' build '$recipes/hello' -o '$WORK/a'")
note "build B (other TZ, umask, locale, cwd)"
mkdir -p "$WORK/cwd"
locale=C.UTF-8
if locale -a 2>/dev/null | grep -qi '^en_US.utf8$'; then locale=en_US.UTF-8; fi
(cd "$WORK/cwd" && TZ=GMT-14 LC_ALL=$locale bash -c "umask 0002; '$TDXIMG' -q --cache '$TDXIMG_TEST_STORE' build '$recipes/hello' -o '$WORK/b/deeper/out'")

# Each variation must really have reached the builds' environment.
[[ $(TZ=GMT+12 date +%H) != $(TZ=GMT-14 date +%H) ]] || fail "TZ variation has no effect"

diff <(sha_all "$WORK/a") <(sha_all "$WORK/b/deeper/out") || fail "outputs differ between the two builds"
for f in initramfs.cpio.zst uki.efi disk.raw disk.vhd hello.tar.gz measurements.json manifest.json; do
  [[ -s $WORK/a/$f ]] || fail "missing output $f"
done
# Output files get fixed modes, not the umask's.
[[ $(stat -c %a "$WORK/b/deeper/out/uki.efi") == 644 ]] || fail "output mode depends on the umask"
echo "build_determinism: ok ($(sha_all "$WORK/a" | wc -l) identical outputs)"
