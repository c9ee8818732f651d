# shellcheck shell=bash
# Boot harness for the end-to-end tests: QEMU (q35) + Debian's OVMF + swtpm.
# Source it from a bash test script:   source "$TDXIMG_SOURCE_DIR/tests/e2e/lib/qemu.sh"
#
# Functions (all log to stderr; values go to stdout):
#   e2e_require_qemu                      install QEMU/OVMF/swtpm if missing; exit 125 if impossible
#   e2e_accel                             print "kvm" or "tcg" (probed once per host boot, cached)
#   e2e_start_swtpm DIR                   fresh TPM 2.0 (sha256+sha384 banks) listening on DIR/sock
#   e2e_stop_swtpm DIR                    stop the swtpm started for DIR (also done at exit)
#   e2e_make_esp_disk UKI OUT             test-only GPT disk whose ESP holds UKI as EFI/BOOT/BOOTX64.EFI
#   e2e_sign_snakeoil IN OUT              sign a UKI with the OVMF snakeoil test key (Secure Boot tests)
#   e2e_boot IMAGE LOG [options]          boot a disk (raw/vhd) or a bare UKI; serial console -> LOG
#   e2e_parse_pcrs LOG BANK               print "<index> <hex>" for every PCR the probe printed
#   e2e_pcr LOG BANK INDEX                print one PCR value
#   e2e_extract_eventlog LOG OUT          decode the probe's TCG2 event log into OUT (binary)
#   e2e_extract_ccel LOG OUT              decode the probe's TDX CCEL log into OUT (TDX guests only)
#   e2e_module_state LOG NAME             print loaded|builtin|MISSING (probe and hello init formats)
#   e2e_replay LOG_BIN [args]             run replay_tcg2.py on a binary event log
#   e2e_on_exit CMD...                    run CMD at exit (the library owns the EXIT trap)
# After e2e_boot: E2E_LAST_BOOT_SECONDS (wall) and E2E_LAST_BOOT_CPU_SECONDS (QEMU's CPU time).
#
# Environment:
#   TDXIMG_E2E_ACCEL=kvm|tcg   force the accelerator (skips the probe)
#   TDXIMG_E2E_TIMEOUT=SEC     default boot timeout (default 300 under tcg, 120 under kvm)
#   TDXIMG_E2E_KEEP=1          keep temporary directories (printed at exit)
#   TDXIMG_BINARY_DIR          where the accelerator probe result is cached (default /tmp)
#   OVMF_DIR                   where OVMF_CODE_4M*.fd live (default /usr/share/OVMF)

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OVMF_DIR:=/usr/share/OVMF}"
E2E_OVMF_KEYDIR=/usr/share/ovmf

# ---- exit handling ---------------------------------------------------------------------------

E2E_EXIT_CMDS=()
e2e__run_exit() {
  local rc=$? i
  for ((i = ${#E2E_EXIT_CMDS[@]} - 1; i >= 0; i--)); do eval "${E2E_EXIT_CMDS[$i]}" || true; done
  return $rc
}
trap e2e__run_exit EXIT

# e2e_on_exit CMD...: run CMD (as one string, eval'd) when the shell exits, last-registered first.
e2e_on_exit() { E2E_EXIT_CMDS+=("$*"); }

e2e_log() { echo "e2e: $*" >&2; }

# e2e_mktemp VAR: create a temporary directory, removed at exit (unless TDXIMG_E2E_KEEP=1), and
# store its path in VAR. (Not "d=$(e2e_mktemp)": a subshell could not register the cleanup.)
e2e_mktemp() {
  local _d
  _d=$(mktemp -d "${TMPDIR:-/tmp}/tdximg-e2e.XXXXXX") || return 1
  if [[ "${TDXIMG_E2E_KEEP:-0}" == 1 ]]; then
    e2e_on_exit "echo 'e2e: kept $_d' >&2"
  else
    e2e_on_exit "rm -rf '$_d'"
  fi
  printf -v "$1" '%s' "$_d"
}

# ---- tools -----------------------------------------------------------------------------------

# e2e_require_qemu: make sure qemu-system-x86_64, OVMF, swtpm and swtpm_setup exist, installing
# the Debian packages with apt-get (as root or through sudo) if not. Exits 125 (ctest: skipped)
# only when QEMU or OVMF cannot be had at all; a missing swtpm is fatal only for TPM boots.
e2e_require_qemu() {
  local need=() sudo=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  [[ -f $OVMF_DIR/OVMF_CODE_4M.fd ]] || need+=(ovmf)
  command -v swtpm >/dev/null || need+=(swtpm)
  command -v swtpm_setup >/dev/null || need+=(swtpm-tools)
  command -v mcopy >/dev/null || need+=(mtools)
  command -v mkfs.vfat >/dev/null || need+=(dosfstools)
  command -v sgdisk >/dev/null || need+=(gdisk)
  command -v qemu-img >/dev/null || need+=(qemu-utils)
  if ((${#need[@]})); then
    [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
    e2e_log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      "${need[@]}" >/dev/null 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
          "${need[@]}" >/dev/null 2>&1; } || true
  fi
  if ! command -v qemu-system-x86_64 >/dev/null || [[ ! -f $OVMF_DIR/OVMF_CODE_4M.fd ]]; then
    e2e_log "SKIP: qemu-system-x86_64 or OVMF ($OVMF_DIR) unavailable and not installable"
    exit 125
  fi
}

# ---- accelerator -----------------------------------------------------------------------------

# e2e_accel: print the accelerator to use, "kvm" or "tcg". TDXIMG_E2E_ACCEL forces it. Otherwise
# /dev/kvm must be usable AND a probe boot must work: on nested or software-virtualized hosts
# /dev/kvm can exist while OVMF never gets past its first instructions. The probe boots OVMF
# with no disk under KVM for up to 15 s and succeeds once the firmware's boot manager (BdsDxe)
# or the UEFI shell writes to the serial port. The answer is cached per host boot (boot_id).
e2e_accel() {
  if [[ -n "${TDXIMG_E2E_ACCEL:-}" ]]; then
    case $TDXIMG_E2E_ACCEL in kvm | tcg) echo "$TDXIMG_E2E_ACCEL"; return 0 ;; esac
    e2e_log "TDXIMG_E2E_ACCEL must be kvm or tcg, not '$TDXIMG_E2E_ACCEL'"; return 2
  fi
  local cache="${TDXIMG_BINARY_DIR:-/tmp}/e2e-accel.cache" boot_id accel cid
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  if [[ -f $cache ]] && read -r cid accel <"$cache" && [[ $cid == "$boot_id" && $accel =~ ^(kvm|tcg)$ ]]; then
    echo "$accel"; return 0
  fi
  accel=tcg
  if [[ -r /dev/kvm && -w /dev/kvm ]]; then
    local d pid i
    d=$(mktemp -d "${TMPDIR:-/tmp}/tdximg-e2e-probe.XXXXXX")
    cp "$OVMF_DIR/OVMF_VARS_4M.fd" "$d/vars.fd"
    qemu-system-x86_64 -nodefaults -machine q35 -accel kvm -cpu host -m 256M -display none \
      -monitor none -serial "file:$d/serial.log" -no-reboot \
      -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_DIR/OVMF_CODE_4M.fd" \
      -drive "if=pflash,format=raw,unit=1,file=$d/vars.fd" >"$d/qemu.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 150; i++)); do
      if grep -a -q -E 'BdsDxe|Shell|EDK II' "$d/serial.log" 2>/dev/null; then accel=kvm; break; fi
      kill -0 "$pid" 2>/dev/null || break
      # Nested KVM under some hypervisors fails at OVMF's first instructions like this.
      grep -a -q 'KVM internal error' "$d/qemu.log" 2>/dev/null && break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [[ $accel == kvm ]] || e2e_log "KVM probe: OVMF printed nothing under -accel kvm; using tcg ($(head -n 1 "$d/qemu.log"))"
    rm -rf "$d"
  else
    e2e_log "no usable /dev/kvm; using tcg"
  fi
  { mkdir -p "$(dirname "$cache")" && echo "$boot_id $accel" >"$cache"; } 2>/dev/null || true
  echo "$accel"
}

# ---- swtpm -----------------------------------------------------------------------------------

# e2e_start_swtpm DIR: create a fresh TPM 2.0 state in DIR (sha256 and sha384 PCR banks, no EK
# certificates) and start swtpm in the background with its control socket at DIR/sock and log
# at DIR/swtpm.log. It is stopped at exit. Returns non-zero if swtpm cannot start.
e2e_start_swtpm() {
  local dir=$1 i
  command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null ||
    { e2e_log "swtpm/swtpm_setup missing (apt-get install swtpm swtpm-tools)"; return 1; }
  e2e_stop_swtpm "$dir"
  mkdir -p "$dir"
  rm -f "$dir"/tpm2-00.permall "$dir/sock"
  swtpm_setup --tpm2 --tpmstate "$dir" --pcr-banks sha256,sha384 --overwrite \
    --logfile "$dir/swtpm_setup.log" >/dev/null 2>&1 ||
    { e2e_log "swtpm_setup failed:"; cat "$dir/swtpm_setup.log" >&2; return 1; }
  swtpm socket --tpm2 --tpmstate "dir=$dir" --ctrl "type=unixio,path=$dir/sock" \
    --log "file=$dir/swtpm.log,level=1" >/dev/null 2>&1 &
  echo $! >"$dir/swtpm.pid"
  e2e_on_exit "e2e_stop_swtpm '$dir'"
  for ((i = 0; i < 50; i++)); do
    [[ -S $dir/sock ]] && return 0
    kill -0 "$(cat "$dir/swtpm.pid")" 2>/dev/null || break
    sleep 0.1
  done
  e2e_log "swtpm did not start:"; cat "$dir/swtpm.log" >&2 2>/dev/null
  return 1
}

# e2e_stop_swtpm DIR: stop the swtpm that e2e_start_swtpm started for DIR, if still running.
e2e_stop_swtpm() {
  local pidf=$1/swtpm.pid pid
  [[ -f $pidf ]] || return 0
  pid=$(cat "$pidf")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
}

# ---- images ----------------------------------------------------------------------------------

# e2e_make_esp_disk UKI OUT: test-only helper: a raw GPT disk with one EFI System Partition
# (FAT, made with mkfs.vfat + mtools) holding UKI at EFI/BOOT/BOOTX64.EFI, the removable-media
# path OVMF boots without any boot variable. Not reproducible; tdximg's disk.raw is the product.
e2e_make_esp_disk() {
  local uki=$1 out=$2 fat mib
  [[ -f $uki ]] || { e2e_log "e2e_make_esp_disk: no such file: $uki"; return 1; }
  mib=$(( ($(stat -c %s "$uki") + (1 << 20) - 1) / (1 << 20) + 8 ))
  fat="$out.fat.tmp"
  rm -f "$fat" "$out"
  truncate -s "${mib}M" "$fat"
  mkfs.vfat -n ESP "$fat" >/dev/null
  mmd -i "$fat" ::/EFI ::/EFI/BOOT
  mcopy -i "$fat" "$uki" ::/EFI/BOOT/BOOTX64.EFI
  truncate -s "$((mib + 2))M" "$out"
  sgdisk -n "1:2048:+${mib}M" -t 1:ef00 -c 1:ESP "$out" >/dev/null
  dd if="$fat" of="$out" bs=1M seek=1 conv=notrunc status=none
  rm -f "$fat"
}

# e2e_sign_snakeoil IN OUT: sign the PE IN with Debian OVMF's snakeoil test key (enrolled in
# OVMF_VARS_4M.snakeoil.fd) into OUT. The key's passphrase is "snakeoil"; it is decrypted into
# a temporary file first. sbsign stamps the signing time, so OUT is not reproducible.
e2e_sign_snakeoil() {
  local in=$1 out=$2 d
  command -v sbsign >/dev/null || { e2e_log "sbsign missing (apt-get install sbsigntool)"; return 1; }
  d=$(mktemp -d "${TMPDIR:-/tmp}/tdximg-e2e-sign.XXXXXX")
  if ! openssl pkey -in "$E2E_OVMF_KEYDIR/PkKek-1-snakeoil.key" -passin pass:snakeoil \
      -out "$d/key.pem" 2>"$d/err" ||
     ! sbsign --key "$d/key.pem" --cert "$E2E_OVMF_KEYDIR/PkKek-1-snakeoil.pem" \
      --output "$out" "$in" 2>"$d/err" >/dev/null; then
    e2e_log "signing $in failed: $(cat "$d/err")"; rm -rf "$d"; return 1
  fi
  rm -rf "$d"
}

# ---- booting ---------------------------------------------------------------------------------

# e2e_boot IMAGE LOG [options]: boot IMAGE under qemu-system-x86_64 -machine q35 with Debian's
# OVMF (code read-only, a fresh copy of the vars), no network, no other disk, the image's disk
# first in the boot order (bootindex 0). The serial console (ttyS0) goes to LOG. Returns 0 when
# the guest powered off (or rebooted: -no-reboot) by itself, 124 on timeout (QEMU is killed),
# 4 if OVMF found nothing to boot and started its shell, 5 on a kernel panic, 3 if --expect was
# not met, 2 on bad arguments, else QEMU's exit code; on failure LOG's tail goes to stderr.
# Safe under `set -euo pipefail`.
# IMAGE: a UKI (a PE file, put on a test ESP disk), a raw disk, or a VHD (*.vhd or --format vpc).
# Options:
#   --tpm DIR          attach a TPM 2.0 (tpm-tis); starts a fresh swtpm in DIR (e2e_start_swtpm)
#   --secure-boot      OVMF_CODE_4M.secboot.fd + snakeoil vars, SMM on (sign with e2e_sign_snakeoil)
#   --format raw|vpc   disk format (default: vpc for *.vhd, else raw)
#   --timeout SEC      hard limit (default $TDXIMG_E2E_TIMEOUT, else 300 tcg / 120 kvm)
#   --memory SIZE      guest RAM (default 1G)   --smp N   vCPUs (default 1)
#   --accel kvm|tcg    default: e2e_accel
#   --expect TEXT      also fail (rc 3) unless LOG contains TEXT
#   --qemu-arg ARG     extra QEMU argument (repeatable)
e2e_boot() {
  local image=$1 log=$2; shift 2
  local tpm="" sb=0 format="" timeout_s="" mem=1G smp=1 accel="" expect="" extra=()
  while (($#)); do
    case $1 in
      --tpm) tpm=$2; shift 2 ;;
      --secure-boot) sb=1; shift ;;
      --format) format=$2; shift 2 ;;
      --timeout) timeout_s=$2; shift 2 ;;
      --memory) mem=$2; shift 2 ;;
      --smp) smp=$2; shift 2 ;;
      --accel) accel=$2; shift 2 ;;
      --expect) expect=$2; shift 2 ;;
      --qemu-arg) extra+=("$2"); shift 2 ;;
      *) e2e_log "e2e_boot: unknown option $1"; return 2 ;;
    esac
  done
  [[ -f $image ]] || { e2e_log "e2e_boot: no such image: $image"; return 2; }
  [[ -n $accel ]] || accel=$(e2e_accel) || return 2
  if [[ -z $timeout_s ]]; then
    timeout_s=${TDXIMG_E2E_TIMEOUT:-}
    [[ -n $timeout_s ]] || { [[ $accel == kvm ]] && timeout_s=120 || timeout_s=300; }
  fi
  local work
  e2e_mktemp work || return 2

  # A bare UKI goes onto a test ESP disk.
  if [[ $(head -c 2 "$image" | od -An -c | tr -d ' ') == MZ ]]; then
    e2e_make_esp_disk "$image" "$work/esp.raw" || return 2
    image=$work/esp.raw; format=raw
  fi
  [[ -n $format ]] || { [[ $image == *.vhd ]] && format=vpc || format=raw; }

  local code=$OVMF_DIR/OVMF_CODE_4M.fd vars=$OVMF_DIR/OVMF_VARS_4M.fd machine=q35
  local args=()
  if ((sb)); then
    code=$OVMF_DIR/OVMF_CODE_4M.secboot.fd vars=$OVMF_DIR/OVMF_VARS_4M.snakeoil.fd machine=q35,smm=on
    args+=(-global driver=cfi.pflash01,property=secure,value=on -global ICH9-LPC.disable_s3=1)
  fi
  cp "$vars" "$work/vars.fd"
  # VHD: take the disk size from the footer's current_size (what Azure does); QEMU would derive
  # it from the CHS geometry for creator apps it does not know, which can cut off the GPT backup.
  local fmtopt=$format
  [[ $format == vpc ]] && fmtopt="vpc,force_size_calc=current_size"
  local cpu=max
  [[ $accel == kvm ]] && cpu=host
  # snapshot=on: the guest never writes to the image under test.
  args+=(-nodefaults -machine "$machine" -accel "$accel" -cpu "$cpu" -m "$mem" -smp "$smp"
    -display none -monitor none -serial "file:$log" -no-reboot -nic none
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
    -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd"
    -drive "if=none,id=disk0,format=$fmtopt,snapshot=on,file=$image"
    -device virtio-blk-pci,drive=disk0,bootindex=0)
  local tpm_state=off
  if [[ -n $tpm ]]; then
    tpm_state=on
    e2e_start_swtpm "$tpm" || return 2
    args+=(-chardev "socket,id=chrtpm,path=$tpm/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm
      -device tpm-tis,tpmdev=tpm0)
  fi
  args+=("${extra[@]}")

  : >"$log"
  local t0 rc i
  t0=$(date +%s%N)
  qemu-system-x86_64 "${args[@]}" >"$work/qemu.out" 2>&1 &
  local qpid=$! deadline=$(($(date +%s) + timeout_s)) why=""
  # Poll: QEMU exits when the guest powers off; stop early when the firmware fell back to its
  # shell (nothing bootable) or the kernel panicked without panic= (it would hang until timeout).
  local cpu_ticks=0 st
  while kill -0 "$qpid" 2>/dev/null; do
    # QEMU's CPU time so far (utime + stime, fields 14 and 15): wall time lies on a busy host.
    st=$(cut -d' ' -f14,15 "/proc/$qpid/stat" 2>/dev/null) && cpu_ticks=$(( ${st% *} + ${st#* } ))
    if (($(date +%s) >= deadline)); then why=timeout; break; fi
    if grep -a -q -E 'Shell> |No bootable option or device was found' "$log"; then why=firmware; break; fi
    if grep -a -q 'Kernel panic - not syncing' "$log"; then sleep 2; why=panic; break; fi
    sleep 0.5
  done
  if [[ -n $why ]]; then
    kill "$qpid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$qpid" 2>/dev/null || true
  fi
  rc=0
  wait "$qpid" || rc=$?
  # With panic=-1 a panicking kernel reboots, and -no-reboot makes QEMU exit 0: still a failure.
  [[ -z $why ]] && grep -a -q 'Kernel panic - not syncing' "$log" && why=panic
  case $why in
    timeout) rc=124; e2e_log "TIMEOUT after ${timeout_s}s" ;;
    firmware) rc=4; e2e_log "OVMF found nothing bootable on $(basename "$image") (it started its shell)" ;;
    panic) rc=5; e2e_log "the guest kernel panicked" ;;
  esac
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  E2E_LAST_BOOT_SECONDS=$((ms / 1000)).$(printf %03d $((ms % 1000)))
  E2E_LAST_BOOT_CPU_SECONDS=$((cpu_ticks / $(getconf CLK_TCK)))
  e2e_log "boot of $(basename "$image") ($accel, ${mem}, tpm=$tpm_state, secure-boot=$sb): rc=$rc in ${E2E_LAST_BOOT_SECONDS}s (QEMU CPU ${E2E_LAST_BOOT_CPU_SECONDS}s)"
  if [[ -n $tpm ]]; then e2e_stop_swtpm "$tpm"; fi
  if ((rc == 0)) && [[ -n $expect ]] && ! grep -a -q -F -- "$expect" "$log"; then
    e2e_log "serial log lacks '$expect'"; rc=3
  fi
  if ((rc != 0)); then
    e2e_log "qemu output:"; tail -n 20 "$work/qemu.out" >&2
    e2e_log "serial log tail ($log):"; tail -n 40 "$log" | tr -d '\r' >&2
  fi
  return $rc
}

# ---- reading the probe's output --------------------------------------------------------------

# e2e__lines LOG: the serial log without CRs and ANSI escapes (firmware output has both).
e2e__lines() { tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;=?]*[A-Za-z]//g'; }

# e2e_parse_pcrs LOG BANK: print "<index> <lowercase hex>" for each "PCR BANK i hex" line the
# probe init printed, in index order. Fails if there are none.
e2e_parse_pcrs() {
  local out
  out=$(e2e__lines "$1" | awk -v b="$2" '$1 == "PCR" && $2 == b && $4 ~ /^[0-9a-fA-F]+$/ { print $3, tolower($4) }' | sort -n -k1,1)
  [[ -n $out ]] || { e2e_log "no PCR lines for bank $2 in $1"; return 1; }
  echo "$out"
}

# e2e_pcr LOG BANK INDEX: print one PCR value (lowercase hex); fails if absent.
e2e_pcr() {
  local v
  v=$(e2e_parse_pcrs "$1" "$2" | awk -v i="$3" '$1 == i { print $2 }') && [[ -n $v ]] || return 1
  echo "$v"
}

# e2e__extract_b64 LOG NAME OUT: decode the base64 between "BEGIN NAME" and "END NAME <size>";
# checks the size the guest printed.
e2e__extract_b64() {
  local log=$1 name=$2 out=$3 size
  e2e__lines "$log" | awk -v n="$name" '
      $0 == "BEGIN " n { on = 1; next }
      on && index($0, "END " n " ") == 1 { on = 0; exit }
      on { print }' | base64 -d >"$out" 2>/dev/null ||
    { e2e_log "bad base64 for $name in $log"; return 1; }
  size=$(e2e__lines "$log" | awk -v n="$name" 'index($0, "END " n " ") == 1 { print $NF; exit }')
  [[ -n $size ]] || { e2e_log "no '$name' block in $log"; return 1; }
  [[ $(stat -c %s "$out") == "$size" ]] ||
    { e2e_log "$name: decoded $(stat -c %s "$out") bytes, guest said $size"; return 1; }
}

# e2e_extract_eventlog LOG OUT: write the guest's binary TCG2 event log
# (/sys/kernel/security/tpm0/binary_bios_measurements) to OUT; fails if missing or truncated.
e2e_extract_eventlog() { e2e__extract_b64 "$1" "EVENTLOG tpm0" "$2"; }

# e2e_extract_ccel LOG OUT: write the guest's TDX CC event log (ACPI CCEL data) to OUT. Only a
# TDX guest has one; under plain QEMU this fails.
e2e_extract_ccel() { e2e__extract_b64 "$1" "CCEL" "$2"; }

# e2e_module_state LOG NAME: print the state of kernel module NAME as the guest reported it:
# "loaded", "builtin" or "MISSING". Understands the probe ("MODULE n state") and the hello init
# ("module n: loaded"). Fails if the log does not mention NAME.
e2e_module_state() {
  local s
  s=$(e2e__lines "$1" | awk -v m="$2" '
      $1 == "MODULE" && $2 == m { print $3; exit }
      $1 == "module" && $2 == m ":" { print $3; exit }')
  [[ -n $s ]] || return 1
  echo "$s"
}

# e2e_replay EVENTLOG_BIN [args]: the independent TCG2 replayer (see replay_tcg2.py --help).
e2e_replay() { python3 "$E2E_LIB_DIR/replay_tcg2.py" "$@"; }
