#!/usr/bin/env python3
"""Independent MRTD reference for tdximg's tests (stdlib only).

Written from the specification text (Intel TDX Virtual Firmware Design Guide §11 for the
metadata; TDX Module ABI spec TDH.MEM.PAGE.ADD / TDH.MR.EXTEND for the hashed records, as
restated in /work/shared/reference/tdx-measurements.md §1), not from tdximg's C++ code.

    mrtd_reference.py FIRMWARE            -> JSON {"sha256", "single_pass", "two_pass", "sections"}

Record = 128 bytes: ASCII op name padded with NUL to 16 bytes, GPA as little-endian u64, then
zeros. MR.EXTEND records are followed by the 256 measured bytes. PAGE_AUG sections are skipped.
single_pass: per page, PAGE.ADD then its 16 EXTENDs; two_pass: per section, all PAGE.ADDs then
all EXTENDs.
"""
import hashlib
import json
import struct
import sys

PAGE = 4096
CHUNK = 256


def guid_le(text):
    a, b, c, d, e = text.split("-")
    return (int(a, 16).to_bytes(4, "little") + int(b, 16).to_bytes(2, "little")
            + int(c, 16).to_bytes(2, "little") + bytes.fromhex(d) + bytes.fromhex(e))


FOOTER = guid_le("96b582de-1fb2-45f7-baea-a366c55a082d")
TDX_OFFSET = guid_le("e47a6535-984a-4798-865e-4685a7bf8ec2")


def descriptor_offset(fw):
    end = len(fw) - 32                      # the table ends 32 bytes before the image end
    if fw[end - 16:end] == FOOTER:
        total = int.from_bytes(fw[end - 18:end - 16], "little")
        start = end - total
        cur = end - 18                      # entries before the footer entry
        while cur - start >= 18:
            size = int.from_bytes(fw[cur - 18:cur - 16], "little")
            guid = fw[cur - 16:cur]
            if size < 18:
                raise SystemExit("bad GUID table entry")
            if guid == TDX_OFFSET:
                (back,) = struct.unpack("<I", fw[cur - size:cur - 18])
                return len(fw) - back
            cur -= size
    (legacy,) = struct.unpack("<I", fw[len(fw) - 32:len(fw) - 28])
    if fw[legacy:legacy + 4] == b"TDVF":
        return legacy
    raise SystemExit("no TDX metadata")


def sections(fw):
    d = descriptor_offset(fw)
    sig, length, version, n = struct.unpack("<4sIII", fw[d:d + 16])
    assert sig == b"TDVF" and version == 1 and length == 16 + 32 * n, (sig, version, length, n)
    out = []
    for i in range(n):
        off, raw, gpa, mem, typ, attr = struct.unpack("<IIQQII", fw[d + 16 + 32 * i:d + 48 + 32 * i])
        out.append(dict(data_offset=off, raw_data_size=raw, memory_address=gpa,
                        memory_data_size=mem, type=typ, attributes=attr))
    return out


def op(name, gpa):
    rec = name.encode().ljust(16, b"\0") + gpa.to_bytes(8, "little")
    return rec + b"\0" * (128 - len(rec))


def mrtd(fw, two_pass):
    h = hashlib.sha384()
    for s in sections(fw):
        if s["attributes"] & 2:             # PAGE_AUG: not added at build time
            continue
        pages = s["memory_data_size"] // PAGE
        mem = fw[s["data_offset"]:s["data_offset"] + s["raw_data_size"]]
        mem = mem + b"\0" * (s["memory_data_size"] - len(mem))
        adds = [op("MEM.PAGE.ADD", s["memory_address"] + p * PAGE) for p in range(pages)]

        def extends(p):
            out = []
            for c in range(PAGE // CHUNK):
                o = p * PAGE + c * CHUNK
                out.append(op("MR.EXTEND", s["memory_address"] + o) + mem[o:o + CHUNK])
            return out
        measured = s["attributes"] & 1
        if two_pass:
            for a in adds:
                h.update(a)
            if measured:
                for p in range(pages):
                    for x in extends(p):
                        h.update(x)
        else:
            for p in range(pages):
                h.update(adds[p])
                if measured:
                    for x in extends(p):
                        h.update(x)
    return h.hexdigest()


if __name__ == "__main__":
    data = open(sys.argv[1], "rb").read()
    json.dump({"sha256": hashlib.sha256(data).hexdigest(), "single_pass": mrtd(data, False),
               "two_pass": mrtd(data, True), "sections": sections(data)}, sys.stdout, indent=1)
    sys.stdout.write("\n")
