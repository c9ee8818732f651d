#!/usr/bin/env bash
# The suite can fail: with the test-only switch TDXIMG_TEST_NONDETERMINISM=1 the pipeline stamps
# the current time into /etc/build-time in the last layer. Two such builds must differ, and
# `tdximg diff` must point at that file (path and segment) inside the initramfs.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="deliberately broken determinism"
name=${REPRO_RECIPES[0]}
fresh_store "$name" "$WORK/store-a"
fresh_store "$name" "$WORK/store-b"
run_build "$name" "$WORK/store-a" "$WORK/a" env TDXIMG_TEST_NONDETERMINISM=1
run_build "$name" "$WORK/store-b" "$WORK/b" env TDXIMG_TEST_NONDETERMINISM=1
# The comparison the other repro tests make must fail here.
if diff -q <(sha_all "$WORK/a") <(sha_all "$WORK/b") >/dev/null; then
  fail "two builds with TDXIMG_TEST_NONDETERMINISM=1 were identical: the suite could not catch this"
fi
rc=0
"$TDXIMG" diff "$WORK/a" "$WORK/b" > "$WORK/diff.txt" || rc=$?
cat "$WORK/diff.txt" >&2
[[ $rc == 1 ]] || fail "tdximg diff exited $rc (want 1: differences)"
"$TDXIMG" --json diff "$WORK/a" "$WORK/b" > "$WORK/diff.json" || true
python3 - "$WORK/diff.json" <<'PY' || fail "tdximg diff did not point at etc/build-time in the last segment"
import json, re, sys
r = json.load(open(sys.argv[1]))
assert r["identical"] is False
hits = [f for f in r["findings"]
        if re.search(r"initramfs\.cpio\.zst: segment \d+ \(app\): etc/build-time$", f["object"])
        and f["field"] == "content sha256" and "range" in f]
assert hits, "no finding for etc/build-time"
# The first findings name the layer whose segment changed, before any output.
first = r["findings"][0]
assert first["object"].startswith("manifest: layer") and "(app)" in first["object"], first
# And nothing else in the image is blamed.
others = [f for f in r["findings"] if ": etc/" in f["object"] and "build-time" not in f["object"]]
assert not others, others
print("diff points at", hits[0]["object"], hits[0]["range"])
PY
# Without the switch the same recipe builds identically (the store is warm; outputs compared).
echo "repro nondeterminism_detected: ok"
