#!/usr/bin/env bash
# The initramfs read back one segment at a time by GNU cpio and by libarchive (bsdtar): every
# segment lists its entries with mtime = SOURCE_DATE_EPOCH, owner root and recipe modes; the
# kernel's rules hold (/dev/console a char device, /init executable, parents before children).
source "$(dirname "$0")/lib/common.sh"
recipes=$(locked_recipes)
"$TDXIMG" -q --cache "$TDXIMG_TEST_STORE" build "$recipes/hello" -o "$WORK/out"
"$TDXIMG" --json inspect "$WORK/out/initramfs.cpio.zst" > "$WORK/inspect.json"
sde=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["source_date_epoch"])' "$WORK/out/manifest.json")

nseg=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["segments"]))' "$WORK/inspect.json")
[[ $nseg -eq 3 ]] || fail "expected 3 segments (base, modules, app), got $nseg"
python3 - "$WORK/inspect.json" "$WORK/out/initramfs.cpio.zst" "$WORK" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); data = open(sys.argv[2], 'rb').read()
for i, s in enumerate(j["segments"]):
    open(f"{sys.argv[3]}/seg{i}.zst", "wb").write(data[s["offset"]:s["offset"] + s["stored_size"]])
PY
all=""
for ((i = 0; i < nseg; i++)); do
  zstd -q -dc "$WORK/seg$i.zst" > "$WORK/seg$i.cpio" || fail "segment $i is not a zstd frame"
  # GNU cpio, numeric owners, full dates in UTC.
  (cd "$WORK" && TZ=UTC LC_ALL=C cpio --quiet -itv --numeric-uid-gid < "seg$i.cpio") > "$WORK/seg$i.list" || fail "cpio cannot read segment $i"
  bsdtar_list=$(bsdtar -tf "$WORK/seg$i.cpio" 2>/dev/null || true)
  if command -v bsdtar >/dev/null; then
    [[ $(wc -l <<<"$bsdtar_list") -eq $(wc -l < "$WORK/seg$i.list") ]] || fail "libarchive and GNU cpio disagree on segment $i"
  fi
  # Every entry: owner 0/0 (unless the recipe says otherwise: it does not here).
  awk '$3 != 0 || $4 != 0 { print "bad owner: " $0; bad=1 } END { exit bad }' "$WORK/seg$i.list" || fail "segment $i has non-root owners"
  all+=$(awk '{print $NF}' "$WORK/seg$i.list")$'\n'
done
# mtime = SOURCE_DATE_EPOCH for every member (checked from the raw newc headers).
python3 - "$WORK" "$nseg" "$sde" <<'PY'
import sys
work, n, sde = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = open(f"{work}/seg{i}.cpio", "rb").read(); off = 0; names = []
    while True:
        assert d[off:off+6] == b"070701", f"segment {i}: bad magic at {off}"
        f = [int(d[off+6+8*k: off+14+8*k], 16) for k in range(13)]
        mode, mtime, size, namesize = f[1], f[5], f[6], f[11]
        name = d[off+110: off+110+namesize-1].decode()
        if name == "TRAILER!!!": break
        assert mtime == sde, f"segment {i}: {name}: mtime {mtime} != {sde}"
        names.append(name)
        off = (off + 110 + namesize + 3) & ~3
        off = (off + size + 3) & ~3
    assert names == sorted(names, key=lambda s: s.encode()), f"segment {i} not sorted by path bytes"
print("mtimes ok")
PY
# Kernel rules, across the concatenation: every parent directory precedes its children.
python3 - "$WORK" "$nseg" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2]); seen = {"."}; 
for i in range(n):
    for line in open(f"{work}/seg{i}.list"):
        name = line.split()[-1] if "->" not in line else line.split()[-3]
        parent = name.rsplit("/", 1)[0] if "/" in name else "."
        assert parent in seen, f"segment {i}: {name} comes before its parent {parent}"
        seen.add(name)
print("parents ok")
PY
grep -hE ' dev/console$' "$WORK"/seg*.list | grep -q '^crw-------' || fail "/dev/console is not a 0600 character device"
grep -hE ' init$' "$WORK"/seg*.list | grep -q '^-rwxr-xr-x' || fail "/init is not an executable 0755 file"
grep -hq ' usr/bin/busybox$' "$WORK"/seg*.list || fail "busybox missing"
grep -hq 'bin -> usr/bin$' "$WORK"/seg0.list || fail "merged-/usr symlink /bin missing"
grep -hqE 'usr/lib/modules/.*/virtio_net\.ko' "$WORK"/seg1.list || fail "virtio_net.ko not in the modules segment"
grep -hqE 'usr/lib/modules/.*/net_failover\.ko' "$WORK"/seg1.list || fail "virtio_net's dependency net_failover missing"
grep -hqE 'usr/lib/modules/.*/modules\.dep$' "$WORK"/seg1.list || fail "generated modules.dep missing"
echo "initramfs_layout: ok"
