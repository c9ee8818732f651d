#!/usr/bin/env python3
"""Minimal, independent reader of TCG2 crypto-agile event logs (TCG PC Client PFP spec,
section 10: TCG_PCR_EVENT header + TCG_EfiSpecIDEvent, then TCG_PCR_EVENT2 records).

It exists so the e2e tests can check tdximg against something that shares no code with it:
replay the log the guest firmware wrote, per bank, and compare with the PCRs the guest's TPM
reports. Standard library only (hashlib, struct).

  replay_tcg2.py LOG                       print "PCR <bank> <index> <hex>" for every extended PCR
  replay_tcg2.py LOG --bank sha256 --pcr 4 print only that value (hex)
  replay_tcg2.py LOG --events [--pcr 4]    list the events: index, type, digests, data summary
  replay_tcg2.py LOG --json                everything as JSON
  replay_tcg2.py LOG --ccel                a TDX CCEL log: the index is an MR index (1 = RTMR0 ..
                                           4 = RTMR3) and is printed as RTMR<n>; trailing 0xFF
                                           padding is ignored

Exit codes: 0 ok, 1 malformed log (message names the offset), 2 usage.
"""
import argparse
import hashlib
import json
import struct
import sys

ALGS = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512", 0x0012: "sm3_256"}

EVENT_TYPES = {
    0x0: "EV_PREBOOT_CERT", 0x1: "EV_POST_CODE", 0x3: "EV_NO_ACTION", 0x4: "EV_SEPARATOR",
    0x5: "EV_ACTION", 0x6: "EV_EVENT_TAG", 0x7: "EV_S_CRTM_CONTENTS", 0x8: "EV_S_CRTM_VERSION",
    0x9: "EV_CPU_MICROCODE", 0xA: "EV_PLATFORM_CONFIG_FLAGS", 0xB: "EV_TABLE_OF_DEVICES",
    0xC: "EV_COMPACT_HASH", 0xD: "EV_IPL", 0xE: "EV_IPL_PARTITION_DATA", 0xF: "EV_NONHOST_CODE",
    0x10: "EV_NONHOST_CONFIG", 0x11: "EV_NONHOST_INFO", 0x12: "EV_OMIT_BOOT_DEVICE_EVENTS",
    0x80000001: "EV_EFI_VARIABLE_DRIVER_CONFIG", 0x80000002: "EV_EFI_VARIABLE_BOOT",
    0x80000003: "EV_EFI_BOOT_SERVICES_APPLICATION", 0x80000004: "EV_EFI_BOOT_SERVICES_DRIVER",
    0x80000005: "EV_EFI_RUNTIME_SERVICES_DRIVER", 0x80000006: "EV_EFI_GPT_EVENT",
    0x80000007: "EV_EFI_ACTION", 0x80000008: "EV_EFI_PLATFORM_FIRMWARE_BLOB",
    0x80000009: "EV_EFI_HANDOFF_TABLES", 0x8000000A: "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
    0x8000000B: "EV_EFI_HANDOFF_TABLES2", 0x8000000C: "EV_EFI_VARIABLE_BOOT2",
    0x80000010: "EV_EFI_HCRTM_EVENT", 0x800000E0: "EV_EFI_VARIABLE_AUTHORITY",
    0x800000E1: "EV_EFI_SPDM_FIRMWARE_BLOB", 0x800000E2: "EV_EFI_SPDM_FIRMWARE_CONFIG",
}
EV_NO_ACTION = 0x3


class LogError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.data):
            raise LogError(f"{what} at offset {self.pos}: needs {n} bytes, "
                           f"{len(self.data) - self.pos} left")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return struct.unpack("<H", self.take(2, what))[0]

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def left(self):
        return len(self.data) - self.pos


def parse(data, ccel=False):
    """Returns (spec, events). Each event: dict(offset, pcr, type, digests{bank: bytes}, data)."""
    r = Reader(data)
    # TCG_PCR_EVENT (SHA-1 format) carrying the TCG_EfiSpecIDEvent.
    pcr = r.u32("header PCRIndex")
    etype = r.u32("header EventType")
    r.take(20, "header SHA1 digest")
    size = r.u32("header EventSize")
    spec = Reader(r.take(size, "header event data"))
    sig = spec.take(16, "SpecID signature")
    if etype != EV_NO_ACTION or sig != b"Spec ID Event03\0":
        raise LogError(f"offset 0: not a crypto-agile log (type {etype:#x}, signature {sig!r})")
    spec.u32("platformClass")
    minor, major, errata, uintn = (spec.u8("spec minor"), spec.u8("spec major"),
                                   spec.u8("errata"), spec.u8("uintnSize"))
    nalg = spec.u32("numberOfAlgorithms")
    sizes = {}
    for _ in range(nalg):
        alg = spec.u16("algorithmId")
        sizes[alg] = spec.u16("digestSize")
    info = {"pcr": pcr, "version": f"{major}.{minor} errata {errata}", "uintn": uintn,
            "algorithms": {ALGS.get(a, f"alg{a:#x}"): s for a, s in sizes.items()}}
    events = []
    while r.left() >= 8:
        off = r.pos
        pcr = r.u32("PCRIndex")
        etype = r.u32("EventType")
        if ccel and pcr == 0xFFFFFFFF and etype == 0xFFFFFFFF:
            break  # unused part of the CCEL log area
        count = r.u32("digest count")
        if count == 0 and pcr == 0 and etype == 0:
            break  # zero padding
        if count > len(sizes):
            raise LogError(f"event at offset {off}: {count} digests, the header names {len(sizes)}")
        digests = {}
        for _ in range(count):
            alg = r.u16("hashAlg")
            if alg not in sizes:
                raise LogError(f"event at offset {off}: algorithm {alg:#x} not in the header")
            digests[ALGS.get(alg, f"alg{alg:#x}")] = r.take(sizes[alg], "digest")
        size = r.u32("EventSize")
        edata = r.take(size, "event data")
        events.append({"offset": off, "pcr": pcr, "type": etype, "digests": digests, "data": edata})
    return info, events


def replay(info, events):
    """PCR values per bank: PCR = H(PCR || digest), starting at zero; EV_NO_ACTION is not
    extended, but a StartupLocality EV_NO_ACTION sets PCR 0's initial last byte."""
    banks = {}
    locality = 0
    for ev in events:
        if ev["type"] == EV_NO_ACTION:
            if ev["pcr"] == 0 and ev["data"][:16] == b"StartupLocality\0" and len(ev["data"]) >= 17:
                locality = ev["data"][16]
            continue
        for bank, dig in ev["digests"].items():
            regs = banks.setdefault(bank, {})
            if ev["pcr"] not in regs:
                init = bytearray(len(dig))
                if ev["pcr"] == 0:
                    init[-1] = locality
                regs[ev["pcr"]] = bytes(init)
            regs[ev["pcr"]] = hashlib.new(bank, regs[ev["pcr"]] + dig).digest()
    return banks


def summary(ev):
    d = ev["data"]
    t = ev["type"]
    if t in (0x80000007, 0x5):  # EV_EFI_ACTION, EV_ACTION: ASCII
        return d.decode("ascii", "replace")
    if t == 0x4:
        return "separator " + d.hex()
    if t == 0xD:  # EV_IPL: systemd-stub writes UTF-16LE names, the kernel ASCII
        if len(d) % 2 == 0 and len(d) >= 2 and d[1] == 0:
            try:
                return d.decode("utf-16-le").rstrip("\0")
            except UnicodeDecodeError:
                pass
        return d.rstrip(b"\0").decode("ascii", "replace")
    if t == 0x6 and len(d) >= 8:  # EV_EVENT_TAG: TCG_PCClientTaggedEvent
        tag, size = struct.unpack("<II", d[:8])
        return f"tag {tag:#x} " + d[8:8 + size].decode("ascii", "replace").rstrip("\0")
    if t in (0x80000003, 0x80000004, 0x80000005) and len(d) >= 32:
        # UEFI_IMAGE_LOAD_EVENT: location u64, length u64, link u64, dp length u64
        loc, length, _, dplen = struct.unpack("<QQQQ", d[:32])
        return f"image at {loc:#x} length {length} devicepath {dplen} bytes"
    return f"{len(d)} bytes"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("log")
    ap.add_argument("--bank")
    ap.add_argument("--pcr", type=int)
    ap.add_argument("--events", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--ccel", action="store_true")
    a = ap.parse_args()
    with open(a.log, "rb") as f:
        data = f.read()
    try:
        info, events = parse(data, a.ccel)
    except LogError as e:
        print(f"replay_tcg2: {a.log}: {e}", file=sys.stderr)
        return 1
    banks = replay(info, events)
    name = (lambda i: f"RTMR{i - 1}" if i >= 1 else f"MR{i}") if a.ccel else str

    if a.json:
        out = {"spec": info,
               "events": [{"offset": e["offset"], "pcr": e["pcr"],
                           "type": EVENT_TYPES.get(e["type"], hex(e["type"])),
                           "digests": {b: d.hex() for b, d in e["digests"].items()},
                           "data": e["data"].hex(), "summary": summary(e)} for e in events],
               "pcrs": {b: {str(i): v.hex() for i, v in sorted(r.items())}
                        for b, r in banks.items()}}
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    if a.events:
        for e in events:
            if a.pcr is not None and e["pcr"] != a.pcr:
                continue
            digs = " ".join(f"{b}:{d.hex()}" for b, d in e["digests"].items()
                            if a.bank is None or b == a.bank)
            print(f"{name(e['pcr'])} {EVENT_TYPES.get(e['type'], hex(e['type']))} {digs} "
                  f"| {summary(e)}")
        return 0
    if a.bank is not None and a.pcr is not None:
        v = banks.get(a.bank, {}).get(a.pcr)
        if v is None:
            print(f"replay_tcg2: no events for {a.bank} PCR {a.pcr}", file=sys.stderr)
            return 1
        print(v.hex())
        return 0
    for b in sorted(banks):
        if a.bank is not None and b != a.bank:
            continue
        for i, v in sorted(banks[b].items()):
            if a.pcr is None or i == a.pcr:
                print(f"PCR {b} {name(i)} {v.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
