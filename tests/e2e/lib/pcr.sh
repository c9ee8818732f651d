# shellcheck shell=bash
# pcr_boot_check STACK: build the probe recipe tests/e2e/probe/STACK with tdximg, boot it under
# QEMU + OVMF + swtpm (sha256 + sha384 banks) with Secure Boot off and on, and require
#   predicted (measurements.json) == booted (the guest's /sys/class/tpm/tpm0/pcr-*/N)
# for PCR 4, 9 and 11 in both banks, and `tdximg verify` to accept the guest's own event log
# and PCR values. PCR 7 (both banks, both states) is predicted from the very variable stores
# booted (OVMF_VARS_4M.fd off, OVMF_VARS_4M.snakeoil.fd on): by `tdximg measure --efi-vars` for
# the unsigned UKI (--db-cert) and for the signed one (authority from its signature), and, when
# the probe recipe names them (measure.secure_boot_vars), by `tdximg build`. Then a tampered
# image (another command line) must be rejected by `verify` naming the LoadOptions event of
# PCR 9 and the .cmdline event of PCR 11, and a Secure Boot on log must fail against the
# Secure Boot off prediction naming PCR 7.
# Needs: tests/cli/lib/common.sh and tests/e2e/lib/qemu.sh sourced. Sets `fails`.

pcr_predicted() { # MEASUREMENTS CONFIG PCR BANK
  python3 - "$@" <<'PY'
import json, sys
m, cfg, pcr, bank = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
c = [c for c in m["tpm"] if c["id"] == cfg][0]
print([r for r in c["registers"] if r["reg"] == f"pcr{pcr}"][0]["values"][bank])
PY
}

# pcr_has MEASUREMENTS CONFIG PCR: succeeds if CONFIG has a prediction for PCR.
pcr_has() {
  python3 - "$@" <<'PY'
import json, sys
m, cfg, pcr = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
c = [c for c in m["tpm"] if c["id"] == cfg]
sys.exit(0 if c and any(r["reg"] == f"pcr{pcr}" for r in c[0]["registers"]) else 1)
PY
}

# pcr_source MEASUREMENTS CONFIG KEY: a field of the config's pcr7_source (efi_vars.sha256, ...).
pcr_source() {
  python3 - "$@" <<'PY'
import json, sys
m, cfg, key = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
v = [c for c in m["tpm"] if c["id"] == cfg][0]["pcr7_source"]
for k in key.split("."):
    v = v[k]
print(v)
PY
}

# pcr_compare LOG MEASUREMENTS CONFIG LABEL [PCR...]: the PCRs (default 4 9 11) in both banks,
# booted vs predicted.
pcr_compare() {
  local log=$1 m=$2 cfg=$3 label=$4 bank pcr want got
  shift 4
  local pcrs=("$@")
  ((${#pcrs[@]})) || pcrs=(4 9 11)
  for bank in sha256 sha384; do
    for pcr in "${pcrs[@]}"; do
      got=$(e2e_pcr "$log" "$bank" "$pcr") || { bad "$label: no booted PCR $pcr $bank"; continue; }
      want=$(pcr_predicted "$m" "$cfg" "$pcr" "$bank") || { bad "$label: no prediction for PCR $pcr $bank"; continue; }
      if [[ $got == "$want" ]]; then ok "$label: PCR $pcr $bank predicted == booted"
      else bad "$label: PCR $pcr $bank predicted $want, booted $got"; fi
    done
  done
}

# pcr_verify LOG MEASUREMENTS CONFIG LABEL EXPECT_RC [REGEX...]: run tdximg verify on the
# guest's event log and PCR values; check the exit code and that the report matches each REGEX.
pcr_verify() {
  local log=$1 m=$2 cfg=$3 label=$4 want_rc=$5; shift 5
  local dir; dir=$(dirname "$log")
  e2e_extract_eventlog "$log" "$log.eventlog" || { bad "$label: no event log in the console output"; return; }
  e2e__lines "$log" | awk '$1 == "PCR" && ($3 == 4 || $3 == 7 || $3 == 9 || $3 == 11) { print $1, $2, $3, $4 }' > "$log.pcrs"
  set +e
  "$TDXIMG" verify --measurements "$m" --event-log "$log.eventlog" --pcrs "$log.pcrs" --config "$cfg" > "$log.verify" 2>&1
  local rc=$?
  set -e
  if [[ $rc -eq $want_rc ]]; then ok "$label: tdximg verify exit $rc"
  else bad "$label: tdximg verify exit $rc, expected $want_rc"; cat "$log.verify"; fi
  local re
  for re in "$@"; do
    grep -Eq "$re" "$log.verify" && ok "$label: report names /$re/" || { bad "$label: report lacks /$re/"; cat "$log.verify"; }
  done
}

pcr_boot_check() {
  local stack=$1 tree probe out work
  tree=$(locked_tree) || { bad "lock the probe recipes"; return; }
  probe=$tree/tests/e2e/probe/$stack
  work=$WORK/$stack
  out=$work/out
  "$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" build "$probe" -o "$out" || { bad "$stack: build"; return; }
  local m=$out/measurements.json

  # PCR 7 from the variable stores e2e_boot boots (same files, same paths).
  local vars_off=$OVMF_DIR/OVMF_VARS_4M.fd vars_on=$OVMF_DIR/OVMF_VARS_4M.snakeoil.fd
  local db_cert=$E2E_OVMF_KEYDIR/PkKek-1-snakeoil.pem mv=$work/measure-vars.json ms=$work/measure-signed.json
  "$TDXIMG" --json measure "$out/disk.raw" --platform qemu --efi-vars "$vars_off" --efi-vars "$vars_on" \
    --db-cert "$db_cert" > "$mv" || bad "$stack: tdximg measure --efi-vars"
  # The recipe's PCR 7 (if it names variable stores) must come from the very files booted.
  local recipe_pcr7=0 cfg file
  if pcr_has "$m" qemu-sb-off 7; then
    recipe_pcr7=1
    for cfg in qemu-sb-off:$vars_off qemu-sb-on:$vars_on; do
      file=${cfg#*:}
      if [[ $(pcr_source "$m" "${cfg%%:*}" efi_vars.sha256) == $(sha256sum < "$file" | cut -d' ' -f1) ]]; then
        ok "$stack: the recipe's ${cfg%%:*} variable store is $file, the one booted"
      else
        bad "$stack: the recipe's ${cfg%%:*} variable store ($(pcr_source "$m" "${cfg%%:*}" efi_vars.name)) differs from the booted $file (host ovmf not the mirror's version?)"
      fi
    done
    [[ $(pcr_source "$m" qemu-sb-on authority.kind) == x509 ]] && ok "$stack: recipe authority is an X.509 db entry" ||
      bad "$stack: recipe authority: $(pcr_source "$m" qemu-sb-on authority.kind)"
  fi

  # 1. Secure Boot off: tdximg's own disk.raw.
  local log=$work/sb-off.log
  if e2e_boot "$out/disk.raw" "$log" --tpm "$work/tpm-off" --expect "TDXIMG-PROBE END"; then
    e2e_log "SB off boot: ${E2E_LAST_BOOT_SECONDS}s"
    pcr_compare "$log" "$m" qemu-sb-off "$stack SB off"
    pcr_compare "$log" "$mv" qemu-sb-off "$stack SB off (measure --efi-vars)" 7
    ((recipe_pcr7)) && pcr_compare "$log" "$m" qemu-sb-off "$stack SB off (recipe secure_boot_vars)" 7
    pcr_verify "$log" "$m" qemu-sb-off "$stack SB off" 0
    pcr_verify "$log" "$mv" qemu-sb-off "$stack SB off (measure --efi-vars)" 0 "^PCR 7: OK \(6 predicted events, 6 in the log\)"
  else
    bad "$stack SB off: boot failed"
  fi

  # 2. Secure Boot on: the same UKI signed with OVMF's snakeoil key (signing does not change
  #    its Authenticode digest), on a test ESP, with the snakeoil-enrolled variable store.
  log=$work/sb-on.log
  if e2e_sign_snakeoil "$out/uki.efi" "$work/signed.efi" && e2e_make_esp_disk "$work/signed.efi" "$work/sb.raw" &&
     e2e_boot "$work/sb.raw" "$log" --tpm "$work/tpm-on" --secure-boot --expect "TDXIMG-PROBE END"; then
    e2e_log "SB on boot: ${E2E_LAST_BOOT_SECONDS}s"
    pcr_compare "$log" "$m" qemu-sb-on "$stack SB on"
    pcr_compare "$log" "$mv" qemu-sb-on "$stack SB on (measure --efi-vars --db-cert, unsigned UKI)" 7
    ((recipe_pcr7)) && pcr_compare "$log" "$m" qemu-sb-on "$stack SB on (recipe secure_boot_vars)" 7
    # The signed UKI: the authority comes from its own signature, no --db-cert.
    if "$TDXIMG" --json measure "$work/signed.efi" --platform qemu --secure-boot on --efi-vars "$vars_on" > "$ms"; then
      pcr_compare "$log" "$ms" qemu-sb-on "$stack SB on (measure of the signed UKI)" 7
      pcr_verify "$log" "$ms" qemu-sb-on "$stack SB on (signed UKI)" 0 "^PCR 7: OK \(7 predicted events, 7 in the log\)"
    else
      bad "$stack SB on: tdximg measure of the signed UKI"
    fi
    pcr_verify "$log" "$m" qemu-sb-on "$stack SB on" 0
    pcr_verify "$log" "$mv" qemu-sb-on "$stack SB on (measure --efi-vars)" 0 "^PCR 7: OK"
    # verify really compares PCR 7: the Secure Boot on log against the off prediction.
    pcr_verify "$log" "$mv" qemu-sb-off "$stack SB on log vs SB off PCR 7" 1 "^PCR 7: MISMATCH"
  else
    bad "$stack SB on: sign or boot failed"
  fi

  # 3. A tampered image: same recipe, another command line. Its real boot must not verify
  #    against the original measurements, and the report must name the right events.
  # The copy sits beside the original in the locked tree, so its relative paths still resolve.
  local tampered=$probe-tampered
  rm -rf "$tampered"
  cp -r "$probe" "$tampered"
  sed -i 's|"console=ttyS0 panic=-1"|"console=ttyS0 panic=-1 tampered=1"|' "$tampered/recipe.json"
  "$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" build "$tampered" -o "$work/tampered-out" || { bad "$stack: tampered build"; return; }
  rm -rf "$tampered"
  log=$work/tampered.log
  if e2e_boot "$work/tampered-out/disk.raw" "$log" --tpm "$work/tpm-t" --expect "TDXIMG-PROBE END"; then
    pcr_verify "$log" "$m" qemu-sb-off "$stack tampered" 1 \
      "PCR 9 event 0 .*expected" "PCR 11 event [0-9]+ .*cmdline"
  else
    bad "$stack tampered: boot failed"
  fi
}
