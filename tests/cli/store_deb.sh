#!/usr/bin/env bash
# store/: resolves deb inputs through the private apt state against the Debian mirror the host's
# apt sources name (busybox-static in bookworm, systemd-boot-efi in trixie, linux-image-amd64
# meta-package in bookworm), as a NON-root user when we can switch to one, and checks that the
# host's apt state (/var/lib/apt, /var/cache/apt) is neither modified nor, under strace, opened.
# Needs the mirror: exits 125 (skipped) when it cannot be reached. Takes ~1-2 min on a cold store.
set -euo pipefail

bin_dir=${TDXIMG_BINARY_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
runner=
for b in "$bin_dir/unit_store" "$bin_dir/unit_tests"; do
  if [[ -x $b ]]; then runner=$b; break; fi
done
if [[ -z $runner ]]; then echo "store_deb: no unit_store/unit_tests binary in $bin_dir: skipped"; exit 125; fi

# The mirror from the host's apt config (never hard-coded), or $TDXIMG_APT_MIRROR.
host_mirror() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -E '^(URIs:|deb )' | grep -v -- -security | head -1 |
    sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*//' || true
}
mirror=${TDXIMG_APT_MIRROR:-$(host_mirror)}
if [[ -z $mirror ]] || ! curl -fsS -o /dev/null --max-time 20 "$mirror/dists/bookworm/InRelease"; then
  echo "store_deb: Debian mirror '${mirror}' unreachable: skipped"; exit 125
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
store=$work/store
mkdir -p "$store"

as_user=()
if [[ $(id -u) -eq 0 ]]; then
  chown nobody: "$store" 2>/dev/null || chown nobody "$store"
  chmod 0777 "$work"
  as_user=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --reset-env)
  echo "store_deb: running as nobody"
fi

snapshot() {
  find /var/lib/apt/lists -maxdepth 1 -printf '%p %s %T@\n' 2>/dev/null | sort
}
before=$(snapshot)

tracer=()
trace_log=$work/trace.log
if command -v strace >/dev/null; then
  tracer=(strace -f -qq -e trace=%file -o "$trace_log")
fi

set +e
"${as_user[@]}" env PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent TMPDIR="$work" \
  TDXIMG_TEST_STORE="$store" ${TDXIMG_APT_MIRROR:+TDXIMG_APT_MIRROR="$TDXIMG_APT_MIRROR"} \
  "${tracer[@]}" "$runner" "[store][network]"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then echo "store_deb: FAIL: network tests failed ($rc)"; exit 1; fi

after=$(snapshot)
if [[ "$before" != "$after" ]]; then
  echo "store_deb: FAIL: /var/lib/apt/lists changed:"; diff <(echo "$before") <(echo "$after") || true; exit 1
fi
if [[ ${#tracer[@]} -gt 0 ]]; then
  if grep -E '"/var/(lib|cache)/apt' "$trace_log" | grep -v ENOENT | head -5 | grep .; then
    echo "store_deb: FAIL: the host's apt state was accessed (above)"; exit 1
  fi
  # The private state was really used.
  grep -q "$store/apt/" "$trace_log" || { echo "store_deb: FAIL: private apt state not used"; exit 1; }
fi
ls "$store"/apt/ | grep -q '^bookworm_amd64_' || { echo "store_deb: FAIL: no bookworm apt state"; exit 1; }
ls "$store"/apt/ | grep -q '^trixie_amd64_' || { echo "store_deb: FAIL: no trixie apt state"; exit 1; }
echo "store_deb: OK"
