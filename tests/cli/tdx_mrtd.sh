#!/usr/bin/env bash
# measure/ MRTD, rot-proof check: downloads Debian trixie's ovmf with a private apt state (mirror
# read from the host's apt sources, never hard-coded), runs the independent python reference
# (tests/data/tdx/mrtd_reference.py) on trixie's and the host's OVMF.fd, reports when Debian's
# files no longer match the values recorded in tests/data/tdx/PROVENANCE.md, and runs the unit
# tests "[tdx]" with TDXIMG_TRIXIE_OVMF pointing at trixie's OVMF.fd (they compare tdximg's MRTD
# with the recorded values, or with the python reference when the file changed).
# Needs the mirror: exits 125 (skipped) when it cannot be reached.
set -euo pipefail

src_dir=${TDXIMG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin_dir=${TDXIMG_BINARY_DIR:-$src_dir/build}
runner=
for b in "$bin_dir/unit_measure" "$bin_dir/unit_tests"; do
  if [[ -x $b ]]; then runner=$b; break; fi
done
if [[ -z $runner ]]; then echo "tdx_mrtd: no unit_measure/unit_tests in $bin_dir: skipped"; exit 125; fi
command -v python3 >/dev/null || { echo "tdx_mrtd: python3 missing: skipped"; exit 125; }

host_mirror() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -E '^(URIs:|deb )' | grep -v -- -security | head -1 |
    sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*//' || true
}
mirror=${TDXIMG_APT_MIRROR:-$(host_mirror)}
if [[ -z $mirror ]] || ! curl -fsS -o /dev/null --max-time 20 "$mirror/dists/trixie/InRelease"; then
  echo "tdx_mrtd: Debian mirror '${mirror}' unreachable: skipped"; exit 125
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
  > "$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
          -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get -q "${apt_opts[@]}" update >/dev/null
(cd "$work/deb" && apt-get -q "${apt_opts[@]}" download ovmf >/dev/null)
dpkg-deb -x "$work"/deb/ovmf_*.deb "$work/x"
trixie=$work/x/usr/share/ovmf/OVMF.fd
[[ -f $trixie ]] || { echo "tdx_mrtd: FAIL: trixie's ovmf has no usr/share/ovmf/OVMF.fd"; exit 1; }

# Recorded values (PROVENANCE.md): sha256 single_pass two_pass.
declare -A recorded=(
  [7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773]="4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47 acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1"
  [14954040cc754ade0c625ac3470ea46d4c14318b5b1396de4ef77090203d76db]="bdc6fb145880f06f30c8b346b8dce2a99d9351b56892df22f80fcf6574caa9f9c31df8e8576d53b4d0cd1c3f28910e11 456f07902150d008bb913c3e1e84e9297f735a6c83cd2a957a1f0a8bbedb06df188e3837ae48d32c73d473d097dc0db2"
)
for fw in /usr/share/ovmf/OVMF.fd "$trixie"; do
  [[ -f $fw ]] || { echo "tdx_mrtd: $fw absent"; continue; }
  read -r sha single two < <(python3 "$src_dir/tests/data/tdx/mrtd_reference.py" "$fw" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["sha256"], d["single_pass"], d["two_pass"])')
  if [[ -n ${recorded[$sha]:-} ]]; then
    if [[ ${recorded[$sha]} != "$single $two" ]]; then
      echo "tdx_mrtd: FAIL: python reference disagrees with the recorded values for $fw"; exit 1
    fi
    echo "tdx_mrtd: $fw ($sha) matches the recorded MRTDs"
  else
    echo "tdx_mrtd: NOTE: $fw changed (sha256 $sha; a Debian point release?): reference MRTD" \
         "single_pass $single two_pass $two — update tests/data/tdx/PROVENANCE.md"
  fi
done

TDXIMG_TRIXIE_OVMF=$trixie "$runner" "[tdx]"
