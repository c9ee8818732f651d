#!/usr/bin/env bash
# The TDX paths of the CLI on the trixie example: build prints MRTD and RTMRs and writes the
# dcap-tdx export with the registers the recipe pins; `inspect` shows the firmware's TDVF
# sections and the same MRTD; pinning an uncalibrated RTMR0 is refused before anything is
# written; `verify --kind ccel` rejects a log that is not a CCEL.
source "$(dirname "$0")/lib/common.sh"
recipes=$(locked_recipes)
out=$WORK/out
"$TDXIMG" --cache "$TDXIMG_TEST_STORE" build "$recipes/hello-trixie" -o "$out" > "$WORK/build.txt"
grep -qE '^    mrtd   [0-9a-f]{96}$' "$WORK/build.txt" || fail "build does not print MRTD"
grep -q 'rtmr0  unpinned' "$WORK/build.txt" || fail "RTMR0 is not reported as unpinned"
python3 - "$out" <<'PY' || fail "exports"
import json, sys
out = sys.argv[1]
m = json.load(open(f"{out}/measurements.json"))
t = m["tdx"][0]
dcap = [e for e in json.load(open(f"{out}/attested-tls.json")) if e["attestation_type"] == "dcap-tdx"]
assert dcap, "no dcap-tdx entry"
# Default pin: MRTD ("0"), RTMR1 ("2"), RTMR2 ("3"); no uncalibrated RTMR0 ("1").
assert sorted(dcap[0]["measurements"]) == ["0", "2", "3"], dcap[0]["measurements"]
assert dcap[0]["measurements"]["0"]["expected"] == t["values"]["mrtd"]
assert dcap[0]["measurements"]["3"]["expected"] == t["values"]["rtmr2"]
d = json.load(open(f"{out}/dstack-mr.json"))[t["id"]]
assert d["mrtd"] == t["values"]["mrtd"] and d["rtmr0"] is None
PY
# inspect the same firmware: the MRTD it prints equals the build's (single pass, the default).
# The exact deb the build used, by its locked sha256: the shared store may hold other ovmf
# packages (the e2e probe pins bookworm's).
ovmf_sha=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["inputs"]["ovmf"]["sha256"])' \
  "$recipes/hello-trixie/recipe.lock.json") || fail "no ovmf pin in the hello-trixie lock"
dpkg-deb --fsys-tarfile "$TDXIMG_TEST_STORE/blobs/sha256/${ovmf_sha:0:2}/$ovmf_sha" |
  tar -xO ./usr/share/ovmf/OVMF.fd > "$WORK/OVMF.fd" || fail "cannot extract OVMF.fd from the stored ovmf package"
"$TDXIMG" --json inspect "$WORK/OVMF.fd" > "$WORK/fw.json"
python3 - "$WORK/fw.json" "$out/measurements.json" <<'PY' || fail "inspect firmware.fd disagrees with build"
import json, sys
fw, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert fw["kind"] == "firmware" and fw["tdvf"]["sections"], fw.keys()
assert fw["mrtd"]["single_pass"] == m["tdx"][0]["values"]["mrtd"]
PY
# `measure --firmware` on the built disk, an image "built by anything", gives the build's values.
"$TDXIMG" --json measure "$out/disk.raw" --platform qemu --secure-boot off --firmware "$WORK/OVMF.fd" > "$WORK/m.json"
python3 - "$WORK/m.json" "$out/measurements.json" <<'PY' || fail "measure --firmware disagrees with build"
import json, sys
a, b = json.load(open(sys.argv[1]))["tdx"][0]["values"], json.load(open(sys.argv[2]))["tdx"][0]["values"]
assert a == b, (a, b)
PY
# refused_build WHAT SED_EXPR REGEX...: build a copy of hello-trixie edited by SED_EXPR; it must
# fail with exit 3, its stderr must match every REGEX, and nothing may be written.
refused_build() {
  local what=$1 expr=$2 re rc; shift 2
  rm -rf "$WORK/r" "$WORK/refused"
  cp -r "$recipes" "$WORK/r"
  sed -i "$expr" "$WORK/r/hello-trixie/recipe.json"
  set +e
  "$TDXIMG" --cache "$TDXIMG_TEST_STORE" build "$WORK/r/hello-trixie" -o "$WORK/refused" 2> "$WORK/err.txt"
  rc=$?
  set -e
  [[ $rc -eq 3 ]] || { cat "$WORK/err.txt"; fail "$what: exit $rc, expected 3"; }
  for re in "$@"; do grep -qiE -- "$re" "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "$what: the error does not match /$re/"; }; done
  [[ -z $(find "$WORK/refused" -type f 2>/dev/null) ]] || fail "$what: a refused build wrote outputs"
}
# The operator's choice of registers: pinning RTMR0 without a calibration is refused.
refused_build "pinning an uncalibrated RTMR0" 's|"vms": \[|"tdx_pin": ["mrtd", "rtmr0", "rtmr1", "rtmr2"], "vms": [|' 'rtmr0'
# A TDX recipe without a disk output: RTMR1 covers the boot disk's GPT, so it is an input error
# naming the fix.
refused_build "TDX recipe without a disk" 's|  "outputs": \["initramfs", "uki", "raw", "vhd", "gcp"\],|  "outputs": ["initramfs", "uki"],|' '/outputs' '"raw"'
# verify --kind ccel wants a CCEL (a TPM log has no sha384-only CC structure) - clean error, exit 3.
set +e
"$TDXIMG" verify --kind ccel --measurements "$out/measurements.json" --event-log "$out/measurements.json" 2> "$WORK/err2.txt"
rc=$?
set -e
[[ $rc -eq 3 ]] || { cat "$WORK/err2.txt"; fail "verify --kind ccel on garbage: exit $rc, expected 3"; }
echo "tdx_cli: ok"
