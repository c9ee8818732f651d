#!/usr/bin/env bash
# Proves the e2e boot harness (tests/e2e/lib/) on images made with HOST tools only, so that a
# failing boot test of tdximg's images points at tdximg, not at the harness:
#   1. a UKI (objcopy: systemd-boot-efi's stub + Debian bookworm's kernel + a busybox probe
#      initramfs made by `cpio -H newc`), on a test ESP disk, booted with swtpm: the probe's
#      banner, module states, PCRs of both banks and the event log are read back; every PCR the
#      log touches is replayed (replay_tcg2.py) and must equal what the TPM reports; PCR 4 must
#      hold exactly action, separator, UKI, kernel, and the two image digests must equal
#      `pesign --hash` of the UKI and of vmlinuz (an independent Authenticode implementation);
#   2. the same UKI signed with OVMF's snakeoil key, inside a fixed VHD, booted with Secure Boot
#      on: PCR 4 must drop the kernel event and match `pesign --hash` of the signed file, and
#      PCR 7 must replay.
# Skip (exit 125) when QEMU or a host tool cannot be had. Boot time: ~30 s of QEMU CPU per boot
# under TCG (wall time more on a loaded host); the ctest timeout is 600 s.
# TDXIMG_E2E_SELFTEST_SB=0 skips boot 2.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/qemu.sh"
source "$here/lib/hostimg.sh"

fails=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

e2e_require_qemu
for t in python3 cpio objcopy objdump apt-get dpkg-deb depmod modprobe pesign sbsign qemu-img; do
  command -v "$t" >/dev/null || { echo "SKIP: $t missing (scripts/setup --test)"; exit 125; }
done

cache=${TDXIMG_BINARY_DIR:-/tmp}/e2e-cache
e2e_mktemp work

# ---- negative checks of the parsers (cheap; prove they can fail) ----------------------------
printf 'PCR sha256 4 zz\nBEGIN EVENTLOG tpm0\nAAAA\nEND EVENTLOG tpm0 7\n' >"$work/bad.log"
check "parsers reject a log without PCR lines" bash -c "! (source '$here/lib/qemu.sh'; e2e_parse_pcrs '$work/bad.log' sha256) 2>/dev/null"
check "event log extraction rejects a size mismatch" bash -c "! (source '$here/lib/qemu.sh'; e2e_extract_eventlog '$work/bad.log' '$work/bad.bin') 2>/dev/null"
printf 'garbage-not-a-tcg-log' >"$work/bad.bin"
check "the replayer rejects a log without a Spec ID header" bash -c "! python3 '$here/lib/replay_tcg2.py' '$work/bad.bin' 2>/dev/null"

# ---- inputs from the Debian mirror (cached) -------------------------------------------------
read -r vmlinuz kver < <(e2e_host_kernel "$cache") || { bad "download the kernel"; exit 1; }
bbdeb=$(e2e_host_deb busybox-static "$cache") || { bad "download busybox-static"; exit 1; }
mkdir -p "$work/bb" && dpkg-deb -x "$bbdeb" "$work/bb"
busybox=$(ls "$work/bb/bin/busybox" "$work/bb/usr/bin/busybox" 2>/dev/null | head -n 1)
echo "# kernel $kver ($vmlinuz), busybox from $(basename "$bbdeb")"

# ---- images ---------------------------------------------------------------------------------
echo "tpm_tis virtio_blk" >"$work/modules"
ktree=${vmlinuz%/boot/*}
e2e_host_initramfs "$work/initrd.cpio" "$here/probe/init" "$busybox" "$work/modules" "$ktree" "$kver" ||
  { bad "build the probe initramfs"; exit 1; }
e2e_host_uki "$work/uki.efi" "$vmlinuz" "$work/initrd.cpio" "console=ttyS0 panic=-1" ||
  { bad "build the UKI"; exit 1; }

accel=$(e2e_accel)
echo "# accelerator: $accel"

# ---- boot 1: UKI on an ESP, TPM, Secure Boot off --------------------------------------------
log=$work/serial-uki.log
e2e_boot "$work/uki.efi" "$log" --tpm "$work/tpm" --expect "TDXIMG-PROBE END"
rc=$?
t1="${E2E_LAST_BOOT_SECONDS:-?}s wall, ${E2E_LAST_BOOT_CPU_SECONDS:-?}s CPU"
check "boot 1 powers off by itself (rc $rc, $t1)" test "$rc" -eq 0
check "probe banner seen" grep -a -q "TDXIMG-PROBE BEGIN $kver" "$log"
check "built-in tpm_tis reported builtin" test "$(e2e_module_state "$log" tpm_tis)" = builtin
check "loadable virtio_blk reported loaded" test "$(e2e_module_state "$log" virtio_blk)" = loaded
for bank in sha256 sha384; do
  len=$([[ $bank == sha256 ]] && echo 64 || echo 96)
  n=$(e2e_parse_pcrs "$log" "$bank" | awk -v l="$len" 'length($2) == l' | wc -l)
  check "24 $bank PCRs parsed" test "$n" -eq 24
done
check "event log extracted" e2e_extract_eventlog "$log" "$work/eventlog.bin"
check "event log non-empty" test -s "$work/eventlog.bin"
if [[ -s $work/eventlog.bin ]]; then
  e2e_replay "$work/eventlog.bin" >"$work/replay.txt" || bad "replay the event log"
  for bank in sha256 sha384; do
    m=0 n=0
    while read -r _ b idx val; do
      [[ $b == "$bank" ]] || continue
      n=$((n + 1))
      got=$(e2e_pcr "$log" "$bank" "$idx")
      if [[ $got == "$val" ]]; then m=$((m + 1)); else echo "#   $bank PCR $idx: log replays to $val, TPM says $got"; fi
    done <"$work/replay.txt"
    check "$bank: all $n PCRs in the event log replay to the TPM's values" test "$n" -gt 5 -a "$m" -eq "$n"
    check "$bank: PCR 4 replayed = PCR 4 read from sysfs" test \
      "$(e2e_replay "$work/eventlog.bin" --bank "$bank" --pcr 4)" = "$(e2e_pcr "$log" "$bank" 4)"
  done
  e2e_replay "$work/eventlog.bin" --events --pcr 4 --bank sha256 >"$work/pcr4.txt"
  cat "$work/pcr4.txt" | cut -c1-150 | sed 's/^/#   /'
  check "PCR 4: action, separator, UKI, kernel (nothing else booted first)" test \
    "$(awk '{print $2}' "$work/pcr4.txt" | tr '\n' ' ')" = \
    "EV_EFI_ACTION EV_SEPARATOR EV_EFI_BOOT_SERVICES_APPLICATION EV_EFI_BOOT_SERVICES_APPLICATION "
  check "PCR 4: the action is 'Calling EFI Application from Boot Option'" \
    grep -q "| Calling EFI Application from Boot Option\$" "$work/pcr4.txt"
  uki_ah=$(pesign --hash -i "$work/uki.efi" 2>/dev/null | awk '{print $2}')
  linux_ah=$(pesign --hash -i "$vmlinuz" 2>/dev/null | awk '{print $2}')
  check "PCR 4 UKI event = pesign --hash of uki.efi" \
    test "$(awk '$2 == "EV_EFI_BOOT_SERVICES_APPLICATION" {print $3; exit}' "$work/pcr4.txt")" = "sha256:$uki_ah"
  check "PCR 4 kernel event = pesign --hash of vmlinuz" \
    test "$(awk '$2 == "EV_EFI_BOOT_SERVICES_APPLICATION" {n++; if (n == 2) print $3}' "$work/pcr4.txt")" = "sha256:$linux_ah"
fi

# ---- boot 2: signed UKI in a fixed VHD, Secure Boot on ----------------------------------------
t2=skipped
if [[ "${TDXIMG_E2E_SELFTEST_SB:-1}" != 0 ]]; then
  check "sign the UKI with the snakeoil key" e2e_sign_snakeoil "$work/uki.efi" "$work/uki.signed.efi"
  e2e_make_esp_disk "$work/uki.signed.efi" "$work/disk.raw" &&
    qemu-img convert -f raw -O vpc -o subformat=fixed "$work/disk.raw" "$work/disk.vhd" ||
    bad "make the VHD"
  log2=$work/serial-sb.log
  e2e_boot "$work/disk.vhd" "$log2" --tpm "$work/tpm2" --secure-boot --expect "TDXIMG-PROBE END"
  rc=$?
  t2="${E2E_LAST_BOOT_SECONDS:-?}s wall, ${E2E_LAST_BOOT_CPU_SECONDS:-?}s CPU"
  check "boot 2 (VHD, Secure Boot) powers off by itself (rc $rc, $t2)" test "$rc" -eq 0
  check "the kernel saw Secure Boot enabled" grep -a -q "secureboot: Secure boot enabled" "$log2"
  if e2e_extract_eventlog "$log2" "$work/eventlog2.bin"; then
    e2e_replay "$work/eventlog2.bin" --events --pcr 4 --bank sha256 >"$work/pcr4-sb.txt"
    check "Secure Boot: PCR 4 is action, separator, UKI (no kernel event)" test \
      "$(awk '{print $2}' "$work/pcr4-sb.txt" | tr '\n' ' ')" = \
      "EV_EFI_ACTION EV_SEPARATOR EV_EFI_BOOT_SERVICES_APPLICATION "
    # sbsign first pads the file to a multiple of 8 bytes, and that padding is hashed: signing
    # keeps the Authenticode digest only for an 8-aligned UKI (this one is not, on purpose).
    signed_ah=$(pesign --hash -i "$work/uki.signed.efi" 2>/dev/null | awk '{print $2}')
    check "Secure Boot: PCR 4 UKI event = pesign --hash of the signed UKI" \
      test "$(awk '$2 == "EV_EFI_BOOT_SERVICES_APPLICATION" {print $3}' "$work/pcr4-sb.txt")" = "sha256:$signed_ah"
    for idx in 4 7; do
      check "Secure Boot: sha384 PCR $idx replayed = sysfs" test \
        "$(e2e_replay "$work/eventlog2.bin" --bank sha384 --pcr $idx)" = "$(e2e_pcr "$log2" sha384 $idx)"
    done
  else
    bad "Secure Boot: event log extracted"
  fi
fi

echo "# timings ($accel): boot 1 (UKI, TPM) $t1; boot 2 (VHD, Secure Boot) $t2"
if ((fails)); then echo "# $fails check(s) failed"; exit 1; fi
echo "# all checks passed"
