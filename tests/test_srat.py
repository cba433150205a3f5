"""SRAT tables written byte by byte (struct.pack by hand, checksum by hand), then decoded."""
import struct

import pytest

from probes.reading import ParseError, Status
from probes.root import Root
from probes.srat import (GenericAffinity, GiccAffinity, MemoryAffinity, OtherSubtable, ProcessorAffinity,
                         encode_srat, parse_srat, read_srat)

G = 1 << 30


def lapic(pxm_lo, apic, flags, eid, pxm_hi, clock):
    return struct.pack("<BBBBIB", 0, 16, pxm_lo, apic, flags, eid) + pxm_hi.to_bytes(3, "little") + \
        struct.pack("<I", clock)


def mem(pxm, base, length, flags):
    return struct.pack("<BBIHIIIIIIQ", 1, 40, pxm, 0, base & 0xFFFFFFFF, base >> 32, length & 0xFFFFFFFF,
                       length >> 32, 0, flags, 0)


def x2apic(pxm, apic, flags, clock):
    return struct.pack("<BBHIIII", 2, 24, 0, pxm, apic, flags, clock) + b"\0" * 4


def gicc(pxm, uid, flags, clock):
    return struct.pack("<BBIIII", 3, 18, pxm, uid, flags, clock)


def generic(kind, handle_type, pxm, handle, flags):
    return struct.pack("<BBBBI", kind, 32, 0, handle_type, pxm) + handle + struct.pack("<II", flags, 0)


def table(body, revision=3, fix_checksum=True, length=None):
    """Header (36 bytes) + reserved u32=1 + reserved u64, then ``body``; checksum computed by hand."""
    total = 48 + len(body)
    head = b"SRAT" + struct.pack("<IBB", total if length is None else length, revision, 0) + b"BOCHS " + \
        b"BXPC    " + struct.pack("<I", 1) + b"BXPC" + struct.pack("<I", 1)
    raw = bytearray(head + struct.pack("<IQ", 1, 0) + body)
    if fix_checksum:
        raw[9] = (256 - sum(raw) % 256) % 256
    return bytes(raw)


QEMU_LIKE = (lapic(0, 0, 1, 0, 0, 0) + lapic(1, 1, 1, 0, 0, 0)
             + mem(0, 0, 0xA0000, 1) + mem(0, 0x100000, 0x7FF00000, 1) + mem(1, 0x80000000, 0x40000000, 1)
             + mem(1, 0x100000000, 0x80000000, 1) + mem(0, 0, 0, 0) + mem(1, 0x180000000, 0x200000000, 3))


def test_qemu_like_two_nodes():
    s = parse_srat(table(QEMU_LIKE))
    h = s.header
    assert (h.signature, h.length, h.revision, h.oem_id, h.oem_table_id, h.oem_revision, h.creator_id) == \
        ("SRAT", 48 + 2 * 16 + 6 * 40, 3, "BOCHS ", "BXPC    ", 1, "BXPC")
    assert s.table_revision == 1
    assert s.processors == (ProcessorAffinity(0, 0, True), ProcessorAffinity(1, 1, True))
    assert [(m.proximity_domain, m.base, m.end, m.enabled, m.hotpluggable, m.non_volatile) for m in s.memory] == [
        (0, 0, 0xA0000, True, False, False), (0, 0x100000, 0x80000000, True, False, False),
        (1, 0x80000000, 0xC0000000, True, False, False), (1, 4 * G, 6 * G, True, False, False),
        (0, 0, 0, False, False, False), (1, 6 * G, 14 * G, True, True, False)]
    assert encode_srat(s) == table(QEMU_LIKE)


def test_every_known_type_and_raw_others():
    gic_its = struct.pack("<BBHII", 4, 12, 0, 7, 9)
    unknown = bytes([0x7F, 5, 1, 2, 3])
    body = (lapic(0x34, 3, 1, 9, 0x000012, 5) + mem(0x1234, 0x2_0000_0000, 4 * G, 7) + x2apic(0x10000, 300, 0, 2)
            + gicc(6, 77, 1, 8) + generic(5, 1, 4, bytes(range(16)), 1) + generic(6, 0, 5, b"\xaa" * 16, 0)
            + gic_its + unknown)
    s = parse_srat(table(body, revision=3))
    assert s.processors == (ProcessorAffinity(0x1234, 3, True, False, 9, 5), ProcessorAffinity(0x10000, 300, False, True, 0, 2))
    assert s.memory == (MemoryAffinity(0x1234, 8 * G, 4 * G, 7),)
    assert s.memory[0].non_volatile and s.memory[0].hotpluggable
    assert s.gicc == (GiccAffinity(6, 77, True, 8),)
    assert s.generic == (GenericAffinity(5, 4, 1, bytes(range(16)), True), GenericAffinity(6, 5, 0, b"\xaa" * 16, False))
    base = 48 + 16 + 40 + 24 + 18 + 32 + 32
    assert s.others == (OtherSubtable(4, base, gic_its), OtherSubtable(0x7F, base + 12, unknown))


def test_revision_1_uses_8_bit_domains():
    body = lapic(0x34, 3, 1, 0, 0x000012, 0) + mem(0x1234, 0, G, 1)
    s1, s2 = parse_srat(table(body, revision=1)), parse_srat(table(body, revision=2))
    assert (s1.processors[0].proximity_domain, s1.memory[0].proximity_domain) == (0x34, 0x34)
    assert (s2.processors[0].proximity_domain, s2.memory[0].proximity_domain) == (0x1234, 0x1234)


@pytest.mark.parametrize("blob, words", [
    (b"", "truncated"),
    (table(QEMU_LIKE)[:35], "truncated"),
    (table(QEMU_LIKE)[:-1], "header length"),
    (table(QEMU_LIKE) + b"\0", "header length"),
    (table(b"", length=40)[:40], "truncated: length 40"),
    (b"SRAX" + table(QEMU_LIKE)[4:], "signature"),
    (table(QEMU_LIKE, fix_checksum=False), "bad checksum"),
    (table(mem(0, 0, G, 1) + bytes([1, 0]) + b"\0" * 38), "zero-length subtable"),
    (table(bytes([1, 80]) + b"\0" * 38), "runs past the end"),
    (table(bytes([1, 20]) + b"\0" * 18), "needs 40"),
    (table(bytes([0x55, 1])), "needs 2"),
    (table(mem(0, 0, G, 1) + b"\x01"), "truncated subtable header"),
])
def test_corrupt_tables(blob, words):
    with pytest.raises(ParseError, match=words):
        parse_srat(blob)


def test_reader(tmp_path):
    assert read_srat(Root(tmp_path)).status is Status.ABSENT
    (tmp_path / "sys/firmware/acpi/tables").mkdir(parents=True)
    (tmp_path / "sys/firmware/acpi/tables/SRAT").write_bytes(table(QEMU_LIKE))
    r = read_srat(Root(tmp_path))
    assert r.ok and len(r.value.memory) == 6
    (tmp_path / "sys/firmware/acpi/tables/SRAT").write_bytes(table(QEMU_LIKE, fix_checksum=False))
    r = read_srat(Root(tmp_path))
    assert r.status is Status.MALFORMED and "checksum" in r.problem
