"""SRAT -> numa_meminfo -> nodes on memblock.memory, hotplug marks and the kernel-node rule."""
from __future__ import annotations

from observer.model.inputs import PAGE_SHIFT, Reservation, SratInfo
from observer.model.memblock import Memblock
from observer.model.trace import Trace
from probes.records import mutable

COVERAGE_SLACK_PAGES = 1 << (20 - PAGE_SHIFT)  # "We seem to lose 3 pages somewhere. Allow 1M of slack."


@mutable
class Block:
    """A numa_meminfo block ``[start, end)`` on node ``nid``."""

    start: int
    end: int
    nid: int


@mutable
class NumaResult:
    """Nodes as registered: the blocks, the hot-pluggable SRAT ranges, and the kernel nodes."""

    blocks: list[Block]
    reserved_blocks: list[Block]
    hotplug_ranges: list[tuple[int, int, int]]  # (start, end, nid) as SRAT marked them
    kernel_nodes: set[int]
    pxm_to_node: dict[int, int]
    from_srat: bool


def map_pxms(srat: SratInfo) -> dict[int, int]:
    """drivers/acpi/numa/srat.c acpi_map_pxm_to_node: ids in order of first appearance,
    processor entries (parsed first) before memory entries; disabled entries take none."""
    mapping: dict[int, int] = {}
    for pxm in list(srat.cpu_pxms) + [m.pxm for m in srat.memory if m.enabled]:
        mapping.setdefault(pxm, len(mapping))
    return mapping


def cleanup(blocks: list[Block], mb: Memblock, low: int, high: int) -> tuple[list[Block], list[Block]] | str:
    """numa_cleanup_meminfo (arch/x86/mm/numa.c to 6.11, mm/numa_memblks.c 6.12): blocks without
    RAM go to numa_reserved_meminfo, the rest are clipped to [low, high) and same-node blocks
    merge when no other node's block lies between them. Returns an error string on overlap."""
    mi = [Block(b.start, b.end, b.nid) for b in blocks]
    reserved: list[Block] = []
    i = 0
    while i < len(mi):
        b = mi[i]
        if not mb.overlaps(b.start, b.end):
            reserved.append(mi.pop(i))
            continue
        b.start = max(b.start, low)
        if b.end > high:
            reserved.append(Block(high, b.end, b.nid))
            b.end = high
        if b.start >= b.end:
            mi.pop(i)
            continue
        i += 1
    i = 0
    while i < len(mi):
        bi = mi[i]
        j = i + 1
        while j < len(mi):
            bj = mi[j]
            if bi.end > bj.start and bi.start < bj.end and bi.nid != bj.nid:
                return (f"node {bi.nid} [mem {bi.start:#x}-{bi.end - 1:#x}] overlaps with "
                        f"node {bj.nid} [mem {bj.start:#x}-{bj.end - 1:#x}]")
            if bi.nid == bj.nid:
                start, end = min(bi.start, bj.start), max(bi.end, bj.end)
                if not any(bk.nid != bi.nid and start < bk.end and end > bk.start for bk in mi):
                    bi.start, bi.end = start, end
                    mi.pop(j)
                    continue
            j += 1
        i += 1
    return mi, reserved


def _register(mb: Memblock, blocks: list[Block], trace: Trace, what: str) -> str | None:
    """numa_register_memblks / numa_register_meminfo: stamp nids, then the coverage check."""
    for b in blocks:
        mb.set_node(b.start, b.end, b.nid)
    uncovered = sum(e - s for s, e, r in mb.pfn_ranges() if r.nid < 0)
    trace.step("numa-set-node", f"{what}: " + ", ".join(
        f"node {b.nid} [mem {b.start:#x}-{b.end - 1:#x}]" for b in blocks), mb)
    if uncovered >= COVERAGE_SLACK_PAGES:
        problem = f"NUMA: nodes leave {uncovered} pages of RAM uncovered (>= 1 MiB): NUMA config not used"
        trace.step("numa-coverage", problem, mb)
        return problem
    return None


def build_nodes(mb: Memblock, srat: SratInfo | None, numa_off: bool, max_pfn: int,
                reservations: list[Reservation], trace: Trace) -> NumaResult:
    """arch/x86/mm/numa.c x86_numa_init: ACPI SRAT first, else one dummy node.

    Hotplug marks: acpi_numa_memory_affinity_init marks every hot-pluggable range on
    memblock.memory (the flag matters only with movable_node); numa_clear_kernel_node_hotplug
    then clears the marks on every block of a node that holds one of ``reservations``.
    """
    rules = trace.rules
    if srat is not None and not numa_off and any(m.enabled for m in srat.memory):
        pxm_map = map_pxms(srat)
        blocks, hot = [], []
        for m in srat.memory:
            if not m.enabled:
                continue
            nid = pxm_map[m.pxm]
            if m.end > m.start:
                blocks.append(Block(m.start, m.end, nid))
            if m.hotpluggable and m.end > m.start:
                mb.mark_hotplug(m.start, m.end)
                hot.append((m.start, m.end, nid))
        trace.step("srat-pxm", "PXM -> node: " + ", ".join(f"{p}->{n}" for p, n in pxm_map.items()), mb)
        trace.step("srat-memory", f"{len(blocks)} memory blocks, hot-pluggable: " + (", ".join(
            f"[mem {s:#x}-{e - 1:#x}] node {n}" for s, e, n in hot) or "none"), mb)
        if rules.cleanup_to_dram:
            low, high = mb.start_of_dram(), mb.end_of_dram()
        else:
            low, high = 0, max_pfn << PAGE_SHIFT
        cleaned = cleanup(blocks, mb, low, high)
        problem = cleaned if isinstance(cleaned, str) else None
        if problem is None:
            assert not isinstance(cleaned, str)
            kept, reserved = cleaned
            trace.step("numa-cleanup", "blocks: " + ", ".join(
                f"node {b.nid} [mem {b.start:#x}-{b.end - 1:#x}]" for b in kept)
                + (("; without RAM: " + ", ".join(f"node {b.nid} [mem {b.start:#x}-{b.end - 1:#x}]"
                                                  for b in reserved)) if reserved else ""), mb)
            trial = mb.copy()
            problem = _register(trial, kept, trace, "SRAT nodes")
            if problem is None:
                mb.regions = trial.regions
                kernel = clear_kernel_node_hotplug(mb, kept, reservations, trace)
                return NumaResult(kept, reserved, hot, kernel, pxm_map, True)
        trace.assume(f"SRAT rejected ({problem}); the kernel falls back to one node")
        mb.mark_hotplug(0, 1 << 64, on=False)
        for r in mb.regions:
            mb.set_node(r.start, r.end, -1)
    why = "numa=off" if numa_off else "no SRAT memory entries" if srat is not None else "no SRAT"
    dummy = [Block(0, max_pfn << PAGE_SHIFT, 0)]
    kept_or_err = cleanup(dummy, mb, mb.start_of_dram() if rules.cleanup_to_dram else 0,
                          mb.end_of_dram() if rules.cleanup_to_dram else max_pfn << PAGE_SHIFT)
    kept = kept_or_err[0] if not isinstance(kept_or_err, str) else dummy
    trace.step("numa-dummy", f"{why}: faking node 0 at [mem 0x0-{(max_pfn << PAGE_SHIFT) - 1:#x}]", mb)
    _register(mb, kept, trace, "dummy node")
    return NumaResult(kept, [], [], {0}, {}, False)


def clear_kernel_node_hotplug(mb: Memblock, blocks: list[Block], reservations: list[Reservation],
                              trace: Trace) -> set[int]:
    """numa_clear_kernel_node_hotplug: a node owning any memblock.reserved range (as stamped by
    the numa_meminfo blocks) loses MEMBLOCK_HOTPLUG on all of its blocks."""
    kernel: set[int] = set()
    why: dict[int, list[str]] = {}
    for res in reservations:
        for b in blocks:
            if res.start < b.end and res.end > b.start:
                kernel.add(b.nid)
                why.setdefault(b.nid, []).append(res.what)
    for b in blocks:
        if b.nid in kernel:
            mb.mark_hotplug(b.start, b.end, on=False)
    trace.step("kernel-node-hotplug", "kernel nodes: " + (", ".join(
        f"node {n} ({', '.join(sorted(set(why[n])))})" for n in sorted(kernel)) or "none"), mb)
    return kernel
