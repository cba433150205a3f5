"""movablemem_map= (Tang Chen, LKML Dec 2012 - Mar 2013; reverted before 3.9, in no release).

``nn[KMG]@ss[KMG]``: on each node, Movable starts at the lowest address a given range
covers and runs to the end of the node; SRAT is ignored. ``acpi``: every SRAT
hot-pluggable range, except on nodes that hold early reservations (the kernel's node).
Both take priority over kernelcore=/movablecore= (find_zone_movable_pfns_for_nodes
clips the even spread at the limit). Memory below the zone Movable is carved from
(DMA, DMA32 on machines with Normal) never becomes Movable (sanitize_zone_movable_limit).
"""
from __future__ import annotations

from observer.model.inputs import PAGE_SHIFT, PAGE_SIZE, Reservation
from observer.model.memblock import Memblock
from observer.model.numa import NumaResult
from observer.model.trace import Trace
from observer.model.zones import ArchZones


def movable_limits(mb: Memblock, az: ArchZones, spec: str | tuple[tuple[int, int], ...], numa: NumaResult,
                   reservations: list[Reservation], trace: Trace) -> dict[int, int]:
    """zone_movable_limit[nid] per the proposal's sanitize_zone_movable_limit."""
    usable = az.lowest[az.movable_zone]
    limits: dict[int, int] = {}
    if spec == "acpi":
        kernel = {b.nid for b in numa.blocks for r in reservations if r.start < b.end and r.end > b.start}
        wanted = [(s >> PAGE_SHIFT, (e + PAGE_SIZE - 1) >> PAGE_SHIFT) for s, e, nid in numa.hotplug_ranges
                  if nid not in kernel]
        why = ("SRAT hot-pluggable ranges" + (f" except on kernel node(s) {sorted(kernel)}" if kernel else ""))
    else:
        wanted = [(s >> PAGE_SHIFT, (s + n + PAGE_SIZE - 1) >> PAGE_SHIFT) for s, n in spec]  # type: ignore[operator,str-unpack]
        why = "user ranges (SRAT ignored)"
    for rs, re, r in mb.pfn_ranges():
        if r.nid < 0 or re <= usable:
            continue
        rs = max(rs, usable)
        for ws, we in wanted:
            if ws < re and we > rs:
                start = max(rs, ws)
                limits[r.nid] = min(limits.get(r.nid, start), start)
    trace.step("movablemem-map", f"movablemem_map from {why}: " + (", ".join(
        f"node {n} from pfn {p:#x} to node end" for n, p in sorted(limits.items())) or "no node"), mb, limits)
    return limits
