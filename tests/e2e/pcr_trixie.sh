#!/usr/bin/env bash
# Proof by boot, trixie stack: predicted PCR 4/9/11 == booted (sha256, sha384), Secure Boot off and
# on; `tdximg verify` accepts the guest's event log and rejects a tampered boot naming the
# event. See tests/e2e/lib/pcr.sh.
source "$(dirname "$0")/../cli/lib/common.sh"
source "$TDXIMG_SOURCE_DIR/tests/e2e/lib/qemu.sh"
source "$TDXIMG_SOURCE_DIR/tests/e2e/lib/pcr.sh"
set +e
e2e_require_qemu
fails=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
pcr_boot_check trixie
((fails == 0)) && echo "pcr_trixie: ok" || exit 1
