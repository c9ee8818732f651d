#!/bin/bash
# Regenerates gnu-cpio-reproducible.cpio with GNU cpio (Debian package "cpio"), as root (mknod).
# The tree mirrors the entry table in tests/unit/rootfs/test_cpio.cpp ("golden_entries").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
umask 022
cd "$tmp"
mkdir -p r/bin r/dev
cd r
printf 'busybox-bytes\n' > bin/busybox         # 14 bytes: body padding 2
ln -s busybox bin/sh
mknod dev/console c 5 1 && chmod 0600 dev/console
mkfifo dev/fifo && chmod 0644 dev/fifo
: > empty
printf 'x' > a                                  # names of length 1..4: every header+name residue
printf 'xy' > ab
printf 'xyz' > abc
printf 'wxyz' > abcd && chmod 0755 abcd
printf 'hardlinked\n' > h1 && ln h1 h2 && ln h1 h3
chmod 0700 bin
find . -exec touch -h -d @1735689600 {} +
# Order: sorted by path bytes; "." is not emitted. --reproducible = --ignore-devno
# --renumber-inodes (inodes numbered from 1 in archive order, hardlinks share theirs).
LC_ALL=C find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
  cpio -o -H newc --reproducible --quiet > "$here/gnu-cpio-reproducible.cpio"
cpio --version | head -1
