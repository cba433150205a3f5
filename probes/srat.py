"""ACPI SRAT (System Resource Affinity Table): pure decoder and encoder, and its reader.

Source: ``/sys/firmware/acpi/tables/SRAT`` (root only). Layout per ACPI 6.5 §5.2.16;
the kernel walks it in ``acpi_table_parse_entries_array`` (drivers/acpi/tables.c) and
decodes memory entries in ``acpi_numa_memory_affinity_init`` (drivers/acpi/numa/srat.c).
All addresses and lengths are in bytes.
"""
from __future__ import annotations

import struct

from probes.records import field, frozen
from probes.reading import ParseError, Reading
from probes.root import Root

SRAT_PATH = "sys/firmware/acpi/tables/SRAT"
HEADER = struct.Struct("<4sIBB6s8sI4sI")  # the 36-byte ACPI table header
SRAT_FIXED = 48  # header + reserved u32 (=1) + reserved u64

MEM_ENABLED, MEM_HOTPLUGGABLE, MEM_NON_VOLATILE = 1, 2, 4


@frozen
class AcpiHeader:
    """The common ACPI table header."""

    signature: str
    length: int
    revision: int
    checksum: int
    oem_id: str
    oem_table_id: str
    oem_revision: int
    creator_id: str
    creator_revision: int


@frozen
class MemoryAffinity:
    """Type 1: a physical range ``[base, base+length)`` on a proximity domain."""

    proximity_domain: int
    base: int
    length: int
    flags: int

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.base + self.length

    @property
    def enabled(self) -> bool:
        return bool(self.flags & MEM_ENABLED)

    @property
    def hotpluggable(self) -> bool:
        return bool(self.flags & MEM_HOTPLUGGABLE)

    @property
    def non_volatile(self) -> bool:
        return bool(self.flags & MEM_NON_VOLATILE)


@frozen
class ProcessorAffinity:
    """Type 0 (local APIC, ``x2apic`` False) or type 2 (local x2APIC)."""

    proximity_domain: int
    apic_id: int
    enabled: bool
    x2apic: bool = False
    sapic_eid: int = 0
    clock_domain: int = 0


@frozen
class GiccAffinity:
    """Type 3: an ARM GIC CPU interface."""

    proximity_domain: int
    acpi_processor_uid: int
    enabled: bool
    clock_domain: int


@frozen
class GenericAffinity:
    """Type 5 (generic initiator) or 6 (generic port): a device on a proximity domain."""

    type: int
    proximity_domain: int
    device_handle_type: int
    device_handle: bytes
    enabled: bool


@frozen
class OtherSubtable:
    """Any other subtable, kept raw (GIC ITS, RINTC, types this decoder does not know)."""

    type: int
    offset: int
    data: bytes


@frozen
class Srat:
    """A decoded SRAT; subtables in table order within each kind."""

    header: AcpiHeader
    table_revision: int = 1
    memory: tuple[MemoryAffinity, ...] = ()
    processors: tuple[ProcessorAffinity, ...] = ()
    gicc: tuple[GiccAffinity, ...] = ()
    generic: tuple[GenericAffinity, ...] = ()
    others: tuple[OtherSubtable, ...] = field(default=())


_MIN_LEN = {0: 16, 1: 40, 2: 24, 3: 18, 5: 32, 6: 32}


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def parse_srat(blob: bytes) -> Srat:
    """Decode an SRAT; raises ParseError for a truncated, corrupt or foreign table."""
    if len(blob) < HEADER.size:
        raise ParseError(f"truncated: {len(blob)} bytes, an ACPI header needs {HEADER.size}")
    sig, length, rev, csum, oem, oem_tab, oem_rev, creator, creator_rev = HEADER.unpack_from(blob)
    if sig != b"SRAT":
        raise ParseError(f"signature is {sig!r}, not b'SRAT'")
    if length != len(blob):
        raise ParseError(f"header length {length} but the table holds {len(blob)} bytes")
    if length < SRAT_FIXED:
        raise ParseError(f"truncated: length {length} < {SRAT_FIXED}")
    if sum(blob) & 0xFF:
        raise ParseError(f"bad checksum (bytes sum to {sum(blob) & 0xFF:#04x}, not 0)")
    header = AcpiHeader(_text(sig), length, rev, csum, _text(oem), _text(oem_tab), oem_rev,
                        _text(creator), creator_rev)
    (table_rev,) = struct.unpack_from("<I", blob, 36)
    out: dict[str, list] = {"memory": [], "processors": [], "gicc": [], "generic": [], "others": []}
    off = SRAT_FIXED
    while off < length:
        if length - off < 2:
            raise ParseError(f"truncated subtable header at offset {off:#x}")
        kind, sublen = blob[off], blob[off + 1]
        if sublen == 0:
            raise ParseError(f"zero-length subtable (type {kind}) at offset {off:#x}")
        if off + sublen > length:
            raise ParseError(f"subtable (type {kind}, length {sublen}) at offset {off:#x} runs past the end")
        need = _MIN_LEN.get(kind, 2)
        if sublen < need:
            raise ParseError(f"subtable type {kind} at offset {off:#x} is {sublen} bytes, needs {need}")
        _decode_subtable(blob, off, kind, sublen, rev, out)
        off += sublen
    return Srat(header, table_rev, *(tuple(out[k]) for k in ("memory", "processors", "gicc", "generic", "others")))


def _decode_subtable(blob: bytes, off: int, kind: int, sublen: int, rev: int, out: dict[str, list]) -> None:
    if kind == 0:
        pxm_lo, apic, flags, eid = struct.unpack_from("<BBIB", blob, off + 2)
        pxm = pxm_lo
        if rev >= 2:  # acpi_numa_processor_affinity_init: high bytes only from SRAT revision 2
            pxm |= int.from_bytes(blob[off + 9:off + 12], "little") << 8
        (clock,) = struct.unpack_from("<I", blob, off + 12)
        out["processors"].append(ProcessorAffinity(pxm, apic, bool(flags & 1), False, eid, clock))
    elif kind == 1:
        pxm, base, size, flags = struct.unpack_from("<I2xQQ4xI", blob, off + 2)
        if rev <= 1:  # acpi_numa_memory_affinity_init: only 8 bits before revision 2
            pxm &= 0xFF
        out["memory"].append(MemoryAffinity(pxm, base, size, flags))
    elif kind == 2:
        pxm, x2apic, flags, clock = struct.unpack_from("<2xIIII", blob, off + 2)
        out["processors"].append(ProcessorAffinity(pxm, x2apic, bool(flags & 1), True, 0, clock))
    elif kind == 3:
        pxm, uid, flags, clock = struct.unpack_from("<IIII", blob, off + 2)
        out["gicc"].append(GiccAffinity(pxm, uid, bool(flags & 1), clock))
    elif kind in (5, 6):
        handle_type, pxm = struct.unpack_from("<xBI", blob, off + 2)
        handle = bytes(blob[off + 8:off + 24])
        (flags,) = struct.unpack_from("<I", blob, off + 24)
        out["generic"].append(GenericAffinity(kind, pxm, handle_type, handle, bool(flags & 1)))
    else:
        out["others"].append(OtherSubtable(kind, off, bytes(blob[off:off + sublen])))


def encode_srat(srat: Srat) -> bytes:
    """Build table bytes from ``srat`` (its header's length and checksum are recomputed).

    Subtables are written processors first, then memory, generic, GICC and raw others,
    as firmware (and QEMU's ``build_srat``) lay them out.
    """
    body = bytearray(struct.pack("<IQ", srat.table_revision, 0))
    for p in srat.processors:
        if p.x2apic:
            body += struct.pack("<BBHIIII4x", 2, 24, 0, p.proximity_domain, p.apic_id, int(p.enabled), p.clock_domain)
        else:
            body += struct.pack("<BBBBIB3sI", 0, 16, p.proximity_domain & 0xFF, p.apic_id, int(p.enabled),
                                p.sapic_eid, (p.proximity_domain >> 8).to_bytes(3, "little"), p.clock_domain)
    for m in srat.memory:
        body += struct.pack("<BBI2xQQ4xI8x", 1, 40, m.proximity_domain, m.base, m.length, m.flags)
    for g in srat.generic:
        body += struct.pack("<BBxBI16sI4x", g.type, 32, g.device_handle_type, g.proximity_domain,
                            g.device_handle.ljust(16, b"\0"), int(g.enabled))
    for c in srat.gicc:
        body += struct.pack("<BBIIII", 3, 18, c.proximity_domain, c.acpi_processor_uid, int(c.enabled),
                            c.clock_domain)
    for o in srat.others:
        body += o.data
    h = srat.header
    length = HEADER.size + len(body)
    raw = bytearray(HEADER.pack(b"SRAT", length, h.revision, 0, h.oem_id.encode("latin-1").ljust(6)[:6],
                                h.oem_table_id.encode("latin-1").ljust(8)[:8], h.oem_revision,
                                h.creator_id.encode("latin-1").ljust(4)[:4], h.creator_revision) + body)
    raw[9] = (-sum(raw)) & 0xFF
    return bytes(raw)


def read_srat(root: Root) -> Reading[Srat]:
    """The machine's SRAT from ``sys/firmware/acpi/tables/SRAT`` (absent on non-NUMA firmware)."""
    return root.read_bytes(SRAT_PATH).map(parse_srat)
