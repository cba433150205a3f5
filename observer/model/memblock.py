"""The firmware map as the kernel edits it, and memblock.memory built from it (x86_64)."""
from __future__ import annotations

from typing import Iterable

from observer.model.inputs import PAGE_SHIFT, PAGE_SIZE, E820Entry, E820Op, MemmapArg
from probes.records import frozen, replace

#: arch/x86/include/asm/e820/types.h, by the name e820_print_type() prints.
E820_TYPE_NUMBERS = {"usable": 1, "reserved": 2, "ACPI data": 3, "ACPI NVS": 4, "unusable": 5,
                     "persistent (type 7)": 7, "persistent (type 12)": 12, "soft reserved": 0xEFFFFFFF}
E820_TYPE_NAMES = {v: k for k, v in E820_TYPE_NUMBERS.items()}
RAM = 1
NUMA_NO_NODE = -1


def type_number(name: str) -> int:
    """The e820 type number of a printed type name ('type 13' -> 13)."""
    if name in E820_TYPE_NUMBERS:
        return E820_TYPE_NUMBERS[name]
    if name.startswith("type "):
        return int(name[5:], 0)
    raise ValueError(f"unknown e820 type {name!r}")


Table = list[tuple[int, int, int]]  # (start, end, type number), sorted, non-overlapping


def sanitize(entries: Iterable[tuple[int, int, int]]) -> Table:
    """arch/x86/kernel/e820.c e820__update_table: where entries overlap the highest type wins;
    adjacent entries of one type merge."""
    entries = [e for e in entries if e[1] > e[0]]
    points = sorted({p for s, e, _ in entries for p in (s, e)})
    out: Table = []
    for lo, hi in zip(points, points[1:]):
        types = [t for s, e, t in entries if s <= lo and e >= hi]
        if not types:
            continue
        t = max(types)
        if out and out[-1][1] == lo and out[-1][2] == t:
            out[-1] = (out[-1][0], hi, t)
        else:
            out.append((lo, hi, t))
    return out


def _update(table: Table, start: int, end: int, old: int | None, new: int | None) -> Table:
    """e820__range_update (``new`` set) / e820__range_remove (``new`` None) on ``[start, end)``;
    ``old`` None touches every type."""
    out: Table = []
    for s, e, t in table:
        if (old is not None and t != old) or e <= start or s >= end:
            out.append((s, e, t))
            continue
        if s < start:
            out.append((s, start, t))
        if new is not None:
            out.append((max(s, start), min(e, end), new))
        if e > end:
            out.append((end, e, t))
    return sanitize(out)


def apply_cmdline(table: Table, mem_limit: int | None, memmap: Iterable[MemmapArg]) -> Table:
    """arch/x86/kernel/e820.c parse_memopt (mem=) and parse_memmap_one (memmap=). The kernel
    applies them in command-line order; the model applies mem= first, then the memmap= items
    in order, which differs only when a memmap= range above the mem= limit adds RAM."""
    if mem_limit is not None:
        table = _update(table, mem_limit, 1 << 64, RAM, None)
    for arg in memmap:
        if arg.action == "exactmap":
            table = []
        elif arg.action == "limit":
            table = _update(table, arg.size, 1 << 64, RAM, None)
        elif arg.action == "add":
            table = sanitize(table + [(arg.start, arg.start + arg.size, arg.to_type)])
        elif arg.action == "update":
            table = _update(table, arg.start, arg.start + arg.size, arg.from_type, arg.to_type)
        elif arg.action == "remove":
            table = _update(table, arg.start, arg.start + arg.size, arg.from_type or None, None)
    return table


def apply_ops(table: Table, ops: Iterable[E820Op]) -> Table:
    """The kernel's own edits ('e820: update'/'e820: remove' lines, e.g. trim_bios_range)."""
    for op in ops:
        old = type_number(op.old_type) if op.old_type else None
        new = type_number(op.new_type) if op.new_type else None
        if new == RAM and old == RAM:
            continue  # 'usable ==> usable': RAM -> E820_TYPE_RESERVED_KERN, still memblock.memory
        table = _update(table, op.start, op.end, old, new)
    return table


def from_entries(entries: Iterable[E820Entry]) -> Table:
    return sanitize((e.start, e.end, type_number(e.type)) for e in entries)


def to_entries(table: Table) -> tuple[E820Entry, ...]:
    return tuple(E820Entry(s, e, E820_TYPE_NAMES.get(t, f"type {t}")) for s, e, t in table)


@frozen
class Region:
    """A memblock.memory region ``[start, end)`` with its node and flags."""

    start: int
    end: int
    nid: int = NUMA_NO_NODE
    hotplug: bool = False
    mirror: bool = False

    @property
    def start_pfn(self) -> int:
        """memblock_region_memory_base_pfn: PFN_UP(base)."""
        return (self.start + PAGE_SIZE - 1) >> PAGE_SHIFT

    @property
    def end_pfn(self) -> int:
        """memblock_region_memory_end_pfn: PFN_DOWN(end)."""
        return self.end >> PAGE_SHIFT


class Memblock:
    """memblock.memory: sorted regions, split and merged as mm/memblock.c does."""

    def __init__(self, regions: Iterable[Region] = ()) -> None:
        self.regions: list[Region] = sorted(regions, key=lambda r: r.start)

    def copy(self) -> "Memblock":
        return Memblock(self.regions)

    def _merge(self) -> None:
        """memblock_merge_regions: neighbours with equal nid and flags join."""
        out: list[Region] = []
        for r in self.regions:
            if out and out[-1].end == r.start and (out[-1].nid, out[-1].hotplug, out[-1].mirror) == (
                    r.nid, r.hotplug, r.mirror):
                out[-1] = replace(out[-1], end=r.end)
            else:
                out.append(r)
        self.regions = out

    def _apply(self, start: int, end: int, **changes: object) -> None:
        """Split regions at ``start``/``end`` and change the fields of the part inside."""
        out: list[Region] = []
        for r in self.regions:
            if r.end <= start or r.start >= end:
                out.append(r)
                continue
            if r.start < start:
                out.append(replace(r, end=start))
            out.append(replace(r, start=max(r.start, start), end=min(r.end, end), **changes))
            if r.end > end:
                out.append(replace(r, start=end))
        self.regions = out
        self._merge()

    def set_node(self, start: int, end: int, nid: int) -> None:
        """mm/memblock.c memblock_set_node."""
        self._apply(start, end, nid=nid)

    def mark_hotplug(self, start: int, end: int, on: bool = True) -> None:
        """mm/memblock.c memblock_mark_hotplug / memblock_clear_hotplug."""
        self._apply(start, end, hotplug=on)

    def overlaps(self, start: int, end: int) -> bool:
        """mm/memblock.c memblock_overlaps_region."""
        return any(r.start < end and r.end > start for r in self.regions)

    def pfn_ranges(self, nid: int | None = None) -> list[tuple[int, int, Region]]:
        """for_each_mem_pfn_range: (start_pfn, end_pfn, region), empty ones skipped."""
        return [(r.start_pfn, r.end_pfn, r) for r in self.regions
                if (nid is None or r.nid == nid) and r.end_pfn > r.start_pfn]

    def nids(self) -> list[int]:
        return sorted({r.nid for _, _, r in self.pfn_ranges()})

    def pfn_range_for_nid(self, nid: int) -> tuple[int, int]:
        """mm/mm_init.c get_pfn_range_for_nid; (0, 0) for a node without memory."""
        ranges = self.pfn_ranges(nid)
        if not ranges:
            return 0, 0
        return min(s for s, _, _ in ranges), max(e for _, e, _ in ranges)

    def start_of_dram(self) -> int:
        return self.regions[0].start if self.regions else 0

    def end_of_dram(self) -> int:
        return self.regions[-1].end if self.regions else 0


def memblock_from_e820(table: Table) -> Memblock:
    """arch/x86/kernel/e820.c e820__memblock_setup: usable ranges are memblock_add()ed and
    memblock_trim_memory(PAGE_SIZE) drops partial pages."""
    regions = []
    for s, e, t in table:
        if t != RAM:
            continue
        s, e = (s + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), e & ~(PAGE_SIZE - 1)
        if e > s:
            regions.append(Region(s, e))
    mb = Memblock(regions)
    mb._merge()
    return mb


def end_of_ram_pfn(table: Table) -> int:
    """arch/x86/kernel/e820.c e820__end_of_ram_pfn: the highest end pfn of a usable range."""
    return max((e >> PAGE_SHIFT for s, e, t in table if t == RAM), default=0)
