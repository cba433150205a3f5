"""What the audit reads, as one typed record: the live layout plus the firmware facts.

The audit judges the live kernel, so unlike the model it does read the zone
outputs (zoneinfo, valid_zones). Addresses are bytes with exclusive ends; pfns
are 4 KiB page numbers. A field that is None was not readable (absent or denied);
``problems`` says why in one line each.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, NamedTuple

from observer.model.inputs import PAGE_SHIFT
from probes.records import field, frozen, replace

if TYPE_CHECKING:
    from probes.firmware import Firmware
    from probes.memory_blocks import MemoryBlocks
    from probes.reading import Reading
    from probes.root import Root

KERNEL_ZONES = ("DMA", "DMA32", "Normal")


class Block(NamedTuple):
    """``/sys/devices/system/memory/memoryN``: ``valid_zones`` as its tokens, None when unread
    (a named tuple: one per block)."""

    number: int
    start: int
    end: int
    state: str
    node: int | None
    valid_zones: tuple[str, ...] | None


@frozen
class ZoneSpan:
    """One zone of one node from /proc/zoneinfo; ``start_pfn`` None for an empty zone."""

    node: int
    name: str
    start_pfn: int | None
    spanned: int
    present: int

    @property
    def start(self) -> int | None:
        return None if self.start_pfn is None else self.start_pfn << PAGE_SHIFT

    @property
    def end(self) -> int | None:
        return None if self.start_pfn is None else (self.start_pfn + self.spanned) << PAGE_SHIFT

    def intersects(self, start: int, end: int) -> bool:
        """True when the zone's span meets ``[start, end)`` (mm/memory_hotplug.c zone_intersects)."""
        return self.spanned > 0 and self.start is not None and start < self.end and end > self.start  # type: ignore[operator]


@frozen
class FirmwareRange:
    """An enabled SRAT memory affinity range with the node the kernel gave its PXM."""

    node: int | None
    pxm: int
    start: int
    end: int
    hotpluggable: bool


@frozen
class Reservation:
    """Memory the kernel holds from boot: ``kind`` is kernel-image, node-data, initrd, crashkernel,
    cma (a CMA area: ``cma=``, ``hugetlb_cma=``) or reserved; ``label`` says where it was seen."""

    kind: str
    start: int
    end: int
    label: str
    node: int | None = None


@frozen
class HotplugPolicy:
    """How hot-added memory is onlined (auto_online_blocks and memory_hotplug.* parameters)."""

    auto_online: str | None = None
    online_policy: str | None = None
    auto_movable_ratio: int | None = None
    auto_movable_numa_aware: bool | None = None
    memmap_on_memory: bool | None = None
    movable_node: bool = False


@frozen
class AuditFacts:
    """Everything one audit needs about one machine or recording."""

    host: str = ""
    release: str | None = None
    #: UEFI or BIOS (probes.firmware: sys/firmware/efi, the boot log's 'efi: EFI v' line)
    boot_firmware: Firmware | None = None
    cmdline: str | None = None
    block_size: int | None = None
    blocks: tuple[Block, ...] | None = None
    zones: tuple[ZoneSpan, ...] | None = None
    firmware: tuple[FirmwareRange, ...] | None = None
    boot_ram: tuple[tuple[int, int], ...] | None = None
    system_ram: tuple[tuple[int, int], ...] | None = None
    hotadded: tuple[tuple[int, int], ...] = ()
    reservations: tuple[Reservation, ...] = ()
    kernel_nodes: dict[int, tuple[str, ...]] | None = None
    online_nodes: frozenset[int] | None = None
    policy: HotplugPolicy = field(default_factory=HotplugPolicy)
    problems: tuple[str, ...] = ()

    def node_of(self, start: int, end: int) -> int | None:
        """The node sysfs gives the blocks of ``[start, end)`` when they agree (a DIMM's own _PXM
        may differ from the SRAT range around it), else the node of the SRAT range holding it."""
        nodes = {b.node for b in self.blocks or () if b.start < end and start < b.end and b.node is not None}
        if len(nodes) == 1:
            return nodes.pop()
        for r in self.firmware or ():
            if r.start <= start and end <= r.end:
                return r.node
        return None


# --- collecting the facts through the probes -----------------------------------------------

def host_name(root: "Root", path: str) -> str:
    """The live host name, or the recording's name without its suffix."""
    if root.live:
        return os.uname().nodename
    base = os.path.basename(os.path.normpath(path))
    return re.sub(r"\.(tar\.gz|tgz|tar)$", "", base)


#: /proc/iomem children that are the kernel image (arch/x86/kernel/setup.c setup_arch).
_KERNEL_IMAGE = ("Kernel code", "Kernel rodata", "Kernel data", "Kernel bss")


#: The block files the audit reads (a block's node comes from its ``nodeN`` link).
BLOCK_FILES = ("state", "valid_zones")


def collect(root: "Root", host: str = "", memory_blocks: "Reading[MemoryBlocks] | None" = None) -> AuditFacts:
    """Read every input of the audit through ``root``; unreadable ones become None plus a problem line.

    ``memory_blocks`` is the memory-block reading when the caller already has it (with at least
    :data:`BLOCK_FILES`); otherwise those files are read here."""
    from probes import bootlog_events as ev
    from probes.bootlog import read_boot_log
    from probes.cmdline import read_cmdline
    from probes.firmware import read_firmware
    from probes.hotplug_params import read_hotplug_params
    from probes.iomem import read_iomem
    from probes.kernel import read_release
    from probes.memory_blocks import read_memory_blocks
    from probes.nodes import read_nodes
    from probes.reading import Status
    from probes.srat import read_srat
    from probes.zoneinfo import read_zoneinfo

    problems: list[str] = []

    def get(reading):  # type: ignore[no-untyped-def]
        if reading.ok:
            return reading.value
        problems.append(reading.describe())
        return None

    release = get(root.once(read_release))
    cmdline = get(root.once(read_cmdline))
    mb = get(memory_blocks if memory_blocks is not None else read_memory_blocks(root, BLOCK_FILES))
    zi = get(root.once(read_zoneinfo))
    log = get(root.once(read_boot_log))
    iomem = get(root.once(read_iomem))
    params = get(root.once(read_hotplug_params))
    nodes = get(root.once(read_nodes))
    srat_reading = root.once(read_srat)
    srat = srat_reading.value if srat_reading.ok else None
    if srat_reading.status is not Status.ABSENT and not srat_reading.ok:
        problems.append(srat_reading.describe())

    blocks = None if mb is None else tuple(
        Block(b.number, b.number * mb.block_size, (b.number + 1) * mb.block_size, b.state or "",
              b.node, b.valid_zones) for b in mb.blocks)
    zones = None if zi is None else tuple(ZoneSpan(z.node, z.name, z.start_pfn, z.spanned, z.present)
                                          for z in zi.zones)
    firmware = _firmware(srat, srat_reading.status is Status.ABSENT, log, problems)
    boot_ram = None
    if log is not None and (log.user_map or log.e820_map):
        boot_ram = tuple((e.start, e.end) for e in (log.user_map or log.e820_map) if e.type == "usable")
    reservations: list[Reservation] = []
    hotadded: list[tuple[int, int]] = []
    system_ram = None
    if iomem is not None and not iomem.hidden:
        system_ram = tuple((r.start, r.end + 1) for r in iomem.ranges if r.name == "System RAM")
        image = [r for name in _KERNEL_IMAGE for r in iomem.named(name)]
        if image:
            reservations.append(Reservation("kernel-image", min(r.start for r in image),
                                            max(r.end for r in image) + 1, "kernel image"))
        reservations += [Reservation("crashkernel", r.start, r.end + 1, "crashkernel")
                         for r in iomem.named("Crash kernel")]
        if boot_ram is not None:
            hotadded = [(r.start, r.end + 1) for r in iomem.ranges if r.name == "System RAM"
                        and not any(s <= r.start and r.end < e for s, e in boot_ram)]
    elif iomem is not None:
        problems.append("proc/iomem: addresses hidden (needs root)")
    if log is not None:
        reservations += [Reservation("node-data", e.start, e.end, f"NODE_DATA({e.node})", e.node)
                         for e in log.of(ev.NodeData)]
        reservations += [Reservation("initrd", e.start, e.end, "initrd (RAMDISK)") for e in log.of(ev.Ramdisk)]
        reservations += [Reservation("cma", e.start, e.end, "CMA area", e.node if e.node is not None and e.node >= 0
                                     else None) for e in log.of(ev.CmaReserved)]
        if not any(r.kind == "crashkernel" for r in reservations):
            reservations += [Reservation("crashkernel", e.start, e.end, "crashkernel")
                             for e in log.of(ev.Crashkernel)]
    if log is not None and zones is not None and boot_ram is not None and not (cmdline and cmdline.movable_node):
        reservations += _top_down_allocations(log, zones, boot_ram, firmware)
    facts = AuditFacts(
        host=host,
        release=release.raw if release else (log.release if log else None),
        boot_firmware=read_firmware(root).value,
        cmdline=cmdline.raw if cmdline else None,
        block_size=mb.block_size if mb else None,
        blocks=blocks,
        zones=zones,
        firmware=firmware,
        boot_ram=boot_ram,
        system_ram=system_ram,
        hotadded=tuple(hotadded),
        reservations=tuple(reservations),
        online_nodes=nodes.online if nodes else None,
        policy=_policy(params, cmdline),
        problems=tuple(problems),
    )
    return _with_kernel_nodes(facts)


#: x86_64: SECTION_SIZE_BITS 27 (128 MiB sections); a section's memmap is PAGES_PER_SECTION
#: struct pages of 64 bytes, 2 MiB (mm/sparse.c section_map_size, PMD-aligned with vmemmap).
SECTION_SHIFT = 27
SECTION_MAP_SIZE = 2 << 20


def _top_down_allocations(log, zones: tuple[ZoneSpan, ...], boot_ram: tuple[tuple[int, int], ...],
                          firmware: tuple[FirmwareRange, ...] | None) -> list[Reservation]:  # type: ignore[no-untyped-def]
    """Where early boot allocations sit when memblock allocates top-down (no movable_node): the
    top of each node's boot memory from its NODE_DATA down by the node's memmap (mm/sparse.c
    sparse_init_nid -> sparse_buffer_init, allocated on the node after NODE_DATA), and on the
    node holding the top of memory also the log buffer and the early hash tables
    (setup_log_buf, alloc_large_system_hash HASH_EARLY). An estimate of the least extent: page
    tables, per-CPU areas and ACPI copies add more. Such memory is never freed, so a ZONE_MOVABLE
    block there (kernelcore=/movablecore=) cannot be offlined, as the lab saw on Debian 6.1 and
    6.12. A node's memory is its SRAT ranges, else (one node) its zones' span."""
    from probes import bootlog_events as ev
    node_data = log.of(ev.NodeData)
    if not node_data:
        return []
    top_node = max(node_data, key=lambda e: e.start).node
    extra = sum(e.size for e in log.of(ev.EarlyAllocation) if e.memblock)
    out = []
    for e in node_data:
        spans = [(r.start, r.end) for r in firmware or () if r.node == e.node] or \
            [(z.start, z.end) for z in zones if z.node == e.node and z.spanned and z.start is not None]  # type: ignore[misc]
        ram = sorted((max(s, lo), min(t, hi)) for s, t in boot_ram for lo, hi in spans if max(s, lo) < min(t, hi))
        home = [(s, t) for s, t in ram if s <= e.start < t]
        if not home:  # NODE_DATA landed on another node ("on node m")
            continue
        sections, last = 0, -1
        for s, t in ram:
            first, end = max(s >> SECTION_SHIFT, last + 1), (t - 1) >> SECTION_SHIFT
            sections += max(end - first + 1, 0)
            last = max(last, end)
        size = sections * SECTION_MAP_SIZE + (extra if e.node == top_node else 0)
        what = f"memmap ~{size >> 20} MiB" if e.node != top_node or not extra else \
            f"memmap, log buffer and early hash tables ~{size >> 20} MiB"
        out.append(Reservation("boot-allocations", max(home[0][0], e.start - size), home[0][1],
                               f"node {e.node} early boot allocations below NODE_DATA ({what})", e.node))
    return out


def _firmware(srat, absent: bool, log, problems: list[str]) -> tuple[FirmwareRange, ...] | None:  # type: ignore[no-untyped-def]
    """SRAT memory ranges with their nodes: the boot log's accepted entries, else the table alone;
    empty when the firmware has no SRAT, None when it could not be read."""
    from probes import bootlog_events as ev
    if log is not None and log.of(ev.SratMemory):
        # arch/x86/mm/numa.c numa_init: when the SRAT's NUMA setup is rejected ("No NUMA
        # configuration found", then dummy_numa_init fakes one node) its node ids mean nothing.
        rejected = any(n.what in ("no_config", "off") for n in log.of(ev.NumaNote))
        return tuple(FirmwareRange(None if rejected else e.node, e.pxm, e.start, e.end, e.hotplug)
                     for e in log.of(ev.SratMemory))
    if srat is None:
        return () if absent else None
    if srat.memory and log is None:
        problems.append("SRAT node ids unknown without the boot log; nodes taken from the memory blocks")
    return tuple(FirmwareRange(None, m.proximity_domain, m.base, m.base + m.length, m.hotpluggable)
                 for m in srat.memory if m.enabled and m.length)


def _policy(params, cmdline) -> HotplugPolicy:  # type: ignore[no-untyped-def]
    mom = None if params is None or params.memmap_on_memory is None else \
        params.memmap_on_memory.strip().lower().startswith(("y", "1", "force"))
    return HotplugPolicy(
        auto_online=params.auto_online_blocks if params else None,
        online_policy=params.online_policy if params else None,
        auto_movable_ratio=params.auto_movable_ratio if params else None,
        auto_movable_numa_aware=params.auto_movable_numa_aware if params else None,
        memmap_on_memory=mom,
        movable_node=bool(cmdline and cmdline.movable_node),
    )


def _with_kernel_nodes(facts: AuditFacts) -> AuditFacts:
    """Nodes that held memory reserved before SRAT was read (the kernel image, the initrd), which
    arch/x86/mm/numa.c (mm/numa_memblks.c on 6.12) numa_clear_kernel_node_hotplug makes
    un-hot-pluggable as a whole."""
    held: dict[int, list[str]] = {}
    for r in facts.reservations:
        if r.kind in ("kernel-image", "initrd"):
            node = facts.node_of(r.start, r.start + 1)
            if node is not None:
                held.setdefault(node, []).append(r.label)
    return replace(facts, kernel_nodes={n: tuple(v) for n, v in held.items()})
