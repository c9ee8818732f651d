#!/usr/bin/env python3
# Writes the tiny synthetic PE files in this directory (see PROVENANCE.md). Plain struct packing,
# independent of tdximg's C++ code. Deterministic: running it again gives the same bytes.
import struct
import sys
from pathlib import Path

FA = 0x200
SA = 0x1000


def pe(sections, nrva=16, size_of_headers=0x200, trailer=b'', e_lfanew=0x80):
    """sections: list of (name, va, vsize, ptr, srd, chars, fill_byte)."""
    opt_size = 112 + 8 * nrva
    hdr = bytearray(size_of_headers)
    hdr[0:2] = b'MZ'
    struct.pack_into('<I', hdr, 0x3c, e_lfanew)
    off = e_lfanew
    hdr[off:off + 4] = b'PE\0\0'
    struct.pack_into('<HHIIIHH', hdr, off + 4, 0x8664, len(sections), 0x5f000000, 0, 0, opt_size,
                     0x0206)
    o = off + 24
    last = max(s[1] + s[2] for s in sections)
    size_of_image = (last + SA - 1) // SA * SA
    struct.pack_into('<HBBIIIII', hdr, o, 0x20b, 2, 40, 0x200, 0x200, 0, 0x1000, 0x1000)
    struct.pack_into('<QII', hdr, o + 24, 0, SA, FA)
    struct.pack_into('<HHHHHHI', hdr, o + 40, 0, 0, 1, 2, 0, 0, 0)
    struct.pack_into('<III', hdr, o + 56, size_of_image, size_of_headers, 0x12345678)
    struct.pack_into('<HH', hdr, o + 68, 10, 0x0160)
    struct.pack_into('<QQQQII', hdr, o + 72, 0, 0, 0, 0, 0, nrva)
    # DataDirectory[5] (base relocation) gets a dummy value so skipping the wrong entry shows.
    if nrva > 5:
        struct.pack_into('<II', hdr, o + 112 + 5 * 8, 0x1000, 0x10)
    if nrva > 1:
        struct.pack_into('<II', hdr, o + 112 + 1 * 8, 0xabcd, 0x28)
    st = o + opt_size
    for i, (name, va, vs, ptr, srd, chars, _) in enumerate(sections):
        struct.pack_into('<8sIIIIIIHHI', hdr, st + 40 * i, name, vs, va, srd, ptr, 0, 0, 0, 0,
                         chars)
    # header padding after the section table is hashed by Authenticode: make it non-zero
    end_table = st + 40 * len(sections)
    for i in range(end_table, size_of_headers):
        hdr[i] = 0xcc
    end = max(s[3] + s[4] for s in sections)
    out = bytearray(end)
    out[0:size_of_headers] = hdr
    # bytes not covered by any section (gaps) are filled with 0xee: EDK2 does not hash them
    for i in range(size_of_headers, end):
        out[i] = 0xee
    for (name, va, vs, ptr, srd, chars, fill) in sections:
        for i in range(srd):
            out[ptr + i] = (fill + i) & 0xff
    return bytes(out) + trailer


DATA = 0xC0000040   # INITIALIZED_DATA | READ | WRITE
CODE = 0x60000020   # CODE | EXECUTE | READ
RDATA = 0x40000040  # INITIALIZED_DATA | READ


def main(outdir):
    outdir = Path(outdir)
    # gap_overlay.efi: section table not in file order, a 0x200-byte gap between .text and .data,
    # a .bss with SizeOfRawData 0, and 3 bytes of trailing data (file size not a multiple of 8).
    (outdir / 'gap_overlay.efi').write_bytes(pe([
        (b'.data', 0x2000, 0x180, 0x600, 0x200, DATA, 0x40),
        (b'.text', 0x1000, 0x200, 0x200, 0x200, CODE, 0x10),
        (b'.bss', 0x3000, 0x300, 0, 0, DATA | 0x80, 0),
    ], trailer=b'\x01\x02\x03'))
    # nrva4.efi: NumberOfRvaAndSizes = 4 (no security directory entry), contiguous sections,
    # no trailing data.
    (outdir / 'nrva4.efi').write_bytes(pe([
        (b'.text', 0x1000, 0x1f0, 0x200, 0x200, CODE, 0x21),
        (b'.rdata', 0x2000, 0x100, 0x400, 0x200, RDATA, 0x77),
    ], nrva=4))
    # plain.efi: contiguous sections, 8-aligned size; the input that sign_plain.sh signs.
    # stub.efi: a stand-in for systemd-stub (not executable): .text, .sbat, .sdmagic with
    # SectionAlignment 0x1000, room for 6 more section headers, no symbol table.
    sbat = (b'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n'
            b'systemd,1,The systemd Developers,systemd,999,https://systemd.io/\n\0')
    magic = b'#### LoaderInfo: systemd-stub 999.1-test ####\0'
    body = pe([
        (b'.text', 0x1000, 0x200, 0x400, 0x200, CODE, 0x42),
        (b'.sbat', 0x2000, len(sbat), 0x600, 0x200, RDATA, 0),
        (b'.sdmagic', 0x3000, len(magic), 0x800, 0x200, RDATA, 0),
    ], size_of_headers=0x400)
    body = bytearray(body)
    body[0x600:0x600 + 0x200] = sbat + bytes(0x200 - len(sbat))
    body[0x800:0x800 + 0x200] = magic + bytes(0x200 - len(magic))
    # header padding must be zero where new section headers go
    st = 0x80 + 24 + 112 + 128
    body[st + 3 * 40:0x400] = bytes(0x400 - st - 3 * 40)
    (outdir / 'stub.efi').write_bytes(bytes(body))
    (outdir / 'plain.efi').write_bytes(pe([
        (b'.text', 0x1000, 0x200, 0x200, 0x200, CODE, 0x31),
        (b'.data', 0x2000, 0x100, 0x400, 0x200, DATA, 0x55),
    ]))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
