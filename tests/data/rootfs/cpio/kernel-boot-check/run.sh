#!/bin/bash
# Manual check (not a ctest entry): boots a Debian kernel in QEMU with a 5-segment initramfs
# (plain, gzip, zstd, xz, plain) written by tdximg's cpio writer and compressors; a static /init
# (init.c) checks what the kernel unpacked and prints CPIO-BOOT-OK. Needs: gcc + libc6-dev,
# qemu-system-x86, apt access to the Debian mirror. Usage: run.sh BUILD_DIR [KERNEL_PACKAGE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build dir with compiled rootfs/util objects}" && pwd)
pkg=${2:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download "$pkg" >/dev/null 2>&1
dpkg-deb --fsys-tarfile ./*.deb | tar -x ./boot/
gcc -static -O2 -o init "$here/init.c"
c++ -std=c++20 -I"$here/../../../../../include" "$here/mk.cpp" \
  "$build"/CMakeFiles/tdximg_rootfs.dir/src/rootfs/{compress,cpio}.cpp.o \
  "$build"/CMakeFiles/tdximg_util.dir/src/util/*.o -lzstd -llzma -lz -lfmt -lcrypto -o mk
./mk
# TCG: on the development host, KVM (nested) hung after "Probing EDD"; TCG boots in ~10 s.
timeout 300 qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
  -kernel boot/vmlinuz-* -initrd initramfs.img -append "console=ttyS0 panic=-1" > boot.log 2>&1 || true
grep -aE '^(ok  |FAIL)|CPIO-BOOT|Unpacking|initramfs' boot.log
grep -aq CPIO-BOOT-OK boot.log
