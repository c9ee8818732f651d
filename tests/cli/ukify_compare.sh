#!/usr/bin/env bash
# An independent packer on the real stack: Debian trixie's ukify (systemd-ukify 257, run with
# bookworm's python3 + python3-pefile) packs the same stub, signed kernel, initramfs, cmdline,
# os-release and uname as `tdximg build` of hello-trixie with uki.section_order "ukify-257";
# the two UKIs must be byte-identical. Then `tdximg measure` of ukify's file (a UKI tdximg did
# not build) must give the same PCR 4/9/11 as the build predicted for its own.
# The ukify package is resolved at test time like every input (a private recipe, `tdximg lock`).
source "$(dirname "$0")/lib/common.sh"
command -v dpkg-deb >/dev/null || fail "dpkg-deb missing"
py=/usr/bin/python3  # Debian's, where python3-pefile installs (not a pyenv one first in PATH)
"$py" -c 'import pefile' 2>/dev/null || fail "python3-pefile is not installed (scripts/setup --test installs it)"
recipes=$(locked_recipes)
cp -r "$recipes" "$WORK/r"
r=$WORK/r/hello-trixie
# ukify 257.13's section order.
sed -i 's|  "outputs": \["initramfs", "uki", "raw", "vhd", "gcp"\],|  "uki": { "section_order": "ukify-257" },\n  "outputs": ["initramfs", "uki", "raw"],|' "$r/recipe.json"
grep -q '"section_order": "ukify-257"' "$r/recipe.json" || fail "could not set uki.section_order"
"$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" build "$r" -o "$WORK/out"

# ukify from trixie, pinned and fetched through tdximg's own store (no host apt state).
mkdir -p "$WORK/u"
cat > "$WORK/u/recipe.json" <<'J'
{ "schema": 1, "name": "ukify", "source_date_epoch": 0,
  "inputs": { "ukify": { "deb": "systemd-ukify", "suite": "trixie" } },
  "layers": [], "outputs": ["initramfs"] }
J
"$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" lock "$WORK/u"
blob() { # LOCKFILE INPUT: the store path of an input's pinned blob
  python3 - "$1" "$2" "$TDXIMG_TEST_STORE" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))["inputs"][sys.argv[2]]["sha256"]
print(f"{sys.argv[3]}/blobs/sha256/{h[:2]}/{h}")
PY
}
for pkg in ukify:"$WORK/u/recipe.lock.json" stub:"$r/recipe.lock.json" kernel:"$r/recipe.lock.json"; do
  dpkg-deb -x "$(blob "${pkg#*:}" "${pkg%%:*}")" "$WORK/x-${pkg%%:*}"
done
ukify=$WORK/x-ukify/usr/lib/systemd/ukify
[[ -f $ukify ]] || ukify=$WORK/x-ukify/usr/bin/ukify
stub=$WORK/x-stub/usr/lib/systemd/boot/efi/linuxx64.efi.stub
vmlinuz=$(ls "$WORK"/x-kernel/boot/vmlinuz-*)
uname=${vmlinuz##*/vmlinuz-}
# The payloads as tdximg put them into its UKI (objcopy is an independent reader).
for s in osrel cmdline; do objcopy -O binary --only-section=".$s" "$WORK/out/uki.efi" "$WORK/$s"; done
grep -Eq '^ID="?tdximg-hello' "$WORK/osrel" || fail "no .osrel in tdximg's UKI"
"$py" "$ukify" build --stub "$stub" --linux "$vmlinuz" --initrd "$WORK/out/initramfs.cpio.zst" \
  --cmdline "@$WORK/cmdline" --os-release "@$WORK/osrel" --uname "$uname" \
  --output "$WORK/ukify.efi" > "$WORK/ukify.log" 2>&1 || { cat "$WORK/ukify.log"; fail "ukify failed"; }
if ! cmp -s "$WORK/ukify.efi" "$WORK/out/uki.efi"; then
  "$TDXIMG" diff "$WORK/ukify.efi" "$WORK/out/uki.efi" || true
  fail "tdximg's UKI differs from ukify's ($(sha256sum < "$WORK/ukify.efi" | cut -c1-16) vs $(sha256sum < "$WORK/out/uki.efi" | cut -c1-16))"
fi
echo "ok - byte-identical to ukify $(dpkg-deb -f "$(blob "$WORK/u/recipe.lock.json" ukify)" Version)"

# measure on a UKI tdximg did not build == what build predicted.
"$TDXIMG" --json measure "$WORK/ukify.efi" --platform qemu --secure-boot off,on > "$WORK/m.json"
python3 - "$WORK/m.json" "$WORK/out/measurements.json" <<'PY' || fail "measure of ukify's UKI differs from the build's prediction"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def vals(m, cfg):
    c = [c for c in m["tpm"] if c["id"] == cfg][0]
    return {r["reg"]: r["values"] for r in c["registers"] if r["reg"] in ("pcr4", "pcr9", "pcr11")}
for cfg in ("qemu-sb-off", "qemu-sb-on"):
    if vals(a, cfg) != vals(b, cfg):
        sys.exit(f"{cfg}: {vals(a, cfg)} != {vals(b, cfg)}")
print("ok - measure(ukify's UKI) == build's prediction, qemu SB off/on")
PY
echo "ukify_compare: ok"
