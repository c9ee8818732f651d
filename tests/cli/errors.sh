#!/usr/bin/env bash
# Bad input gets a clear message (what, where, expected vs actual) and the documented exit code
# (README "Exit codes"); nothing is written.
source "$(dirname "$0")/lib/common.sh"
cd "$WORK"

run() { # CODE REGEX -- command...
  local code=$1 re=$2; shift 3
  set +e; "$@" > out.txt 2> err.txt; local rc=$?; set -e
  [[ $rc -eq $code ]] || { cat err.txt; fail "expected exit $code, got $rc: $*"; }
  grep -Eq -- "$re" err.txt || { cat err.txt; fail "stderr does not match /$re/: $*"; }
}

run 2 "" -- "$TDXIMG" build
run 2 "" -- "$TDXIMG" frobnicate
run 5 "nope.json" -- "$TDXIMG" build nope.json -o out

mkdir r
printf '{\n  "schema": 1,\n  "name": "x",\n  "inputs": { }\n  "layers": []\n}\n' > r/syntax.json
run 3 "syntax.json:5:[0-9]+: syntax error" -- "$TDXIMG" build r/syntax.json -o out

cat > r/unknown.json <<'J'
{ "schema": 1, "name": "x", "source_date_epoch": 0, "inputs": {},
  "layers": [ { "name": "a", "ops": [ { "dir": "/x", "mdoe": "0755" } ] } ] }
J
run 3 "/layers/0/ops/0/mdoe" -- "$TDXIMG" build r/unknown.json -o out

cat > r/dotdot.json <<'J'
{ "schema": 1, "name": "x", "source_date_epoch": 0, "inputs": {},
  "layers": [ { "name": "a", "ops": [ { "dir": "/a/../../etc" } ] } ] }
J
run 3 "/layers/0/ops/0" -- "$TDXIMG" build r/dotdot.json -o out

printf '{ "schema": 1, "name": "a", "extends": "b.json" }\n' > r/a.json
printf '{ "schema": 1, "name": "b", "extends": "a.json" }\n' > r/b.json
run 3 "cycle|extends" -- "$TDXIMG" build r/a.json -o out

cat > r/sde.json <<'J'
{ "schema": 1, "name": "x", "inputs": {}, "layers": [], "outputs": ["initramfs"] }
J
SOURCE_DATE_EPOCH=yesterday run 3 "SOURCE_DATE_EPOCH" -- "$TDXIMG" build r/sde.json -o out
[[ ! -e out ]] || fail "a failed build created its output directory contents"

printf 'garbage' > junk.bin
run 7 "unknown file type" -- "$TDXIMG" inspect junk.bin
head -c 100 "$(ls /usr/lib/systemd/boot/efi/linuxx64.efi.stub)" > trunc.efi 2>/dev/null || printf 'MZ' > trunc.efi
run 3 "trunc.efi" -- "$TDXIMG" inspect trunc.efi
echo "errors: ok"
