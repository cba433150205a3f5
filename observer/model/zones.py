"""Boot-time zones: arch limits, the Movable start per node, and spanned/present per node and zone."""
from __future__ import annotations

from observer.model.memblock import Memblock
from observer.model.rules import MAX_ORDER_NR_PAGES
from observer.model.trace import Trace
from probes.records import frozen

ZONES = ("DMA", "DMA32", "Normal", "Movable", "Device")
DMA, DMA32, NORMAL, MOVABLE, DEVICE = range(5)
MAX_DMA_PFN = (16 << 20) >> 12
MAX_DMA32_PFN = (4 << 30) >> 12


@frozen
class ZoneLayout:
    """One zone of one node as /proc/zoneinfo shows it (start_pfn 0 when empty)."""

    node: int
    zone: str
    start_pfn: int
    spanned: int
    present: int


@frozen
class ArchZones:
    """arch_zone_lowest/highest_possible_pfn per zone index, and movable_zone."""

    lowest: tuple[int, ...]
    highest: tuple[int, ...]
    movable_zone: int


def arch_zones(mb: Memblock, max_pfn: int, trace: Trace) -> ArchZones:
    """arch/x86/mm/init.c zone_sizes_init (DMA <= 16 MiB, DMA32 <= 4 GiB, Normal <= max_low_pfn,
    which x86_64 raises to max_pfn) fed to free_area_init: each zone starts where the previous
    ended, the first at the first RAM pfn; then find_usable_zone_for_movable."""
    limits = [min(MAX_DMA_PFN, max_pfn), min(MAX_DMA32_PFN, max_pfn), max_pfn, 0, 0]
    start = mb.start_of_dram() >> 12
    low, high = [0] * 5, [0] * 5
    for i in range(5):
        if i == MOVABLE:
            continue
        end = max(limits[i], start)
        low[i], high[i] = start, end
        start = end
    movable_zone = next(i for i in range(4, -1, -1) if i != MOVABLE and high[i] > low[i])
    trace.step("zone-limits", "; ".join(
        f"{ZONES[i]} [pfn {low[i]:#x}-{high[i]:#x})" if high[i] > low[i] else f"{ZONES[i]} empty"
        for i in range(5) if i != MOVABLE), mb)
    trace.step("movable-zone", f"ZONE_MOVABLE is taken from {ZONES[movable_zone]}", mb)
    return ArchZones(tuple(low), tuple(high), movable_zone)


def find_zone_movable_pfns(mb: Memblock, az: ArchZones, trace: Trace, *, movable_node: bool,
                           kernelcore_pages: int, kernelcore_percent: int, mirror: bool,
                           movablecore_pages: int, movablecore_percent: int,
                           movable_limit: dict[int, int] | None = None) -> dict[int, int]:
    """mm/page_alloc.c (6.1) / mm/mm_init.c (6.4+) find_zone_movable_pfns_for_nodes.

    Branches in kernel order: movable_node (lowest MEMBLOCK_HOTPLUG pfn per node; kernelcore=
    and movablecore= ignored), kernelcore=mirror (lowest non-mirrored pfn above 4 GiB; from 6.2
    ignored without mirrored memory), then the kernelcore=/movablecore= amounts spread evenly
    over the nodes with memory, with the restart loop. ``movable_limit`` carries the
    movablemem_map= proposal's zone_movable_limit (priority over the amounts). Finally every
    start is rounded up to MAX_ORDER_NR_PAGES and (5.18+) dropped at or past its node's end.
    """
    rules = trace.rules
    nids = mb.nids()
    nids = [n for n in nids if n >= 0]
    zmp: dict[int, int] = {}
    if movable_limit is None and movable_node:
        for s, e, r in mb.pfn_ranges():
            if r.hotplug and r.nid >= 0:
                zmp[r.nid] = min(zmp.get(r.nid) or s, s)
        trace.step("movable-node", "lowest hot-pluggable pfn per node: " + (", ".join(
            f"node {n}: {p:#x}" for n, p in sorted(zmp.items())) or "none (no hot-pluggable memory left)"), mb, zmp)
        return _align(mb, zmp, trace)
    elif movable_limit is None and mirror:
        if rules.mirror_needs_mirror and not any(r.mirror for r in mb.regions):
            trace.step("mirror-none", "kernelcore=mirror ignored: the system has no mirror memory", mb, zmp)
            return {}
        below_4g = False
        for s, e, r in mb.pfn_ranges():
            if r.mirror or r.nid < 0:
                continue
            if s < MAX_DMA32_PFN:
                below_4g = True
                continue
            zmp[r.nid] = min(zmp.get(r.nid) or s, s)
        trace.step("kernelcore-mirror", "lowest non-mirrored pfn above 4 GiB per node: " + (", ".join(
            f"node {n}: {p:#x}" for n, p in sorted(zmp.items())) or "none")
            + ("; unmirrored kernel memory below 4 GiB" if below_4g else ""), mb, zmp)
        return _align(mb, zmp, trace)

    totalpages = sum(e - s for s, e, _ in mb.pfn_ranges())
    usable_nodes = len(nids)
    required_k, required_m = kernelcore_pages, movablecore_pages
    if rules.percent and kernelcore_percent:
        required_k = (totalpages * 100 * kernelcore_percent) // 10000
    if rules.percent and movablecore_percent:
        required_m = (totalpages * 100 * movablecore_percent) // 10000
    if required_m:
        required_m = -(-required_m // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
        if rules.kernelcore_bounds:
            required_m = min(totalpages, required_m)
        required_k = max(required_k, (totalpages - required_m) % (1 << 64))  # unsigned long before 4.4
    if movable_limit is not None and not required_k:
        zmp = dict(movable_limit)
        trace.step("movablemem-map", "Movable starts (zone_movable_limit): " + (", ".join(
            f"node {n}: {p:#x}" for n, p in sorted(zmp.items())) or "none"), mb, zmp)
        return _align(mb, zmp, trace)
    if not required_k or (rules.kernelcore_bounds and required_k >= totalpages):
        if kernelcore_pages or kernelcore_percent or movablecore_pages or movablecore_percent:
            trace.step("kernelcore", f"kernel memory {required_k} of {totalpages} pages: no ZONE_MOVABLE", mb)
        return {}
    limit = movable_limit or {}
    usable_startpfn = az.lowest[az.movable_zone]
    want = required_k
    while True:
        kernelcore_node = required_k // usable_nodes
        for nid in nids:
            if required_k < kernelcore_node:
                kernelcore_node = required_k // usable_nodes
            remaining = kernelcore_node
            for start, end, _ in mb.pfn_ranges(nid):
                start = max(start, zmp.get(nid, 0))
                if limit.get(nid):
                    end = min(end, limit[nid])
                    if start >= end:
                        zmp[nid] = limit[nid]
                        break
                if start >= end:
                    continue
                if start < usable_startpfn:
                    kernel_pages = min(end, usable_startpfn) - start
                    remaining -= min(kernel_pages, remaining)
                    required_k -= min(kernel_pages, required_k)
                    if end <= usable_startpfn:
                        zmp[nid] = end
                        continue
                    start = usable_startpfn
                size = min(end - start, remaining)
                zmp[nid] = start + size
                required_k -= min(required_k, size)
                remaining -= size
                if not remaining:
                    break
        usable_nodes -= 1
        if not (usable_nodes and required_k > usable_nodes):
            break
    trace.step("movablemem-map" if limit else "kernelcore",
               f"kernel memory {want} of {totalpages} pages spread over {len(nids)} node(s): "
               + ", ".join(f"node {n}: {p:#x}" for n, p in sorted(zmp.items())), mb, zmp)
    return _align(mb, zmp, trace)


def _align(mb: Memblock, zmp: dict[int, int], trace: Trace) -> dict[int, int]:
    out: dict[int, int] = {}
    for nid, pfn in sorted(zmp.items()):
        if not pfn:
            continue
        pfn = -(-pfn // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
        _, end = mb.pfn_range_for_nid(nid)
        if pfn >= end and trace.rules.zmp_past_end_reset:
            continue
        out[nid] = pfn
    trace.step("movable-align", "Movable start per node: " + (", ".join(
        f"node {n}: {p:#x}" for n, p in out.items()) or "none"), mb, out)
    return out


def _adjust(zmp: int, zone: int, node_end: int, start: int, end: int, az: ArchZones,
            mirror: bool) -> tuple[int, int]:
    """adjust_zone_range_for_zone_movable."""
    if zmp:
        if zone == MOVABLE:
            return zmp, min(node_end, az.highest[az.movable_zone])
        if not mirror and start < zmp < end:
            return start, zmp
        if start >= zmp:
            return end, end
    return start, end


def node_zones(mb: Memblock, az: ArchZones, zmp: dict[int, int], mirror: bool,
               nodes: list[int]) -> list[ZoneLayout]:
    """calculate_node_totalpages: zone_spanned_pages_in_node and zone_absent_pages_in_node
    (present = spanned - holes in the node's memblock ranges; kernelcore=mirror moves
    mirrored pages out of Movable and non-mirrored ones out of Normal)."""
    out: list[ZoneLayout] = []
    for nid in nodes:
        node_start, node_end = mb.pfn_range_for_nid(nid)
        ranges = mb.pfn_ranges(nid)
        for z, name in enumerate(ZONES):
            if not node_start and not node_end:
                out.append(ZoneLayout(nid, name, 0, 0, 0))
                continue
            zs = min(max(node_start, az.lowest[z]), az.highest[z])
            ze = min(max(node_end, az.lowest[z]), az.highest[z])
            zs, ze = _adjust(zmp.get(nid, 0), z, node_end, zs, ze, az, mirror)
            if ze < node_start or zs > node_end:
                out.append(ZoneLayout(nid, name, 0, 0, 0))
                continue
            ze, zs = min(ze, node_end), max(zs, node_start)
            spanned = max(ze - zs, 0)
            present = sum(max(min(e, ze) - max(s, zs), 0) for s, e, _ in ranges)
            if mirror and zmp.get(nid):
                for s, e, r in mb.pfn_ranges():
                    overlap = max(min(e, ze) - max(s, zs), 0)
                    if (z == MOVABLE and r.mirror) or (z == NORMAL and not r.mirror):
                        present -= overlap
            out.append(ZoneLayout(nid, name, zs if spanned else 0, spanned, present))
    return out
