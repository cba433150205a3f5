"""The zone an online should pick, by the model's hot-add rules, for the watch's live state.

The decision is :func:`observer.model.hotplug.zone_for_range` (``mm/memory_hotplug.c``
``zone_for_pfn_range`` and the contig-zones / auto-movable rules it follows); this
module only feeds it the watch's :class:`~probes.sysfs_poll.HotplugState` and
words the reason. The auto-movable ratio counts as early kernel memory the
kernel zones' present pages when the watch started (``present_early`` of the
snapshot), so memory hot-added before the watch started counts as early.
"""
from __future__ import annotations

from observer.model.hotplug import LiveZone, Policy, zone_for_range
from observer.model.zones import MOVABLE, ZONES
from probes.records import frozen
from probes.sysfs_poll import HotplugState


@frozen
class Group:
    """A static memory group (one ACPI DIMM): its whole size and what of it is online where."""

    max_pages: int
    online_kernel_pages: int
    online_movable_pages: int


def live_zones(state: HotplugState) -> dict[int, dict[int, LiveZone]]:
    """The model's per-node zone table for ``state`` (every zone, empty ones included)."""
    nodes = {nid for nid, _ in state.zones} | {b.node for b in state.blocks.values() if b.node is not None}
    live = {nid: {z: LiveZone(0, 0, 0, 0) for z in range(len(ZONES))} for nid in nodes}
    for (nid, name), span in state.zones.items():
        if name in ZONES:
            live[nid][ZONES.index(name)] = LiveZone(span.start_pfn or 0, span.spanned, span.present,
                                                    span.present_early)
    return live


def policy(state: HotplugState) -> Policy:
    return Policy(state.auto_online, state.online_policy == "auto-movable", state.auto_movable_ratio,
                  state.auto_movable_numa_aware, state.movable_node)


def expected_zone(state: HotplugState, online_type: str, nid: int, start_pfn: int, nr_pages: int,
                  group: Group | None = None) -> tuple[str, str]:
    """The zone name an online of ``online_type`` should pick for the range, and why (one phrase)."""
    live = live_zones(state)
    live.setdefault(nid, {z: LiveZone(0, 0, 0, 0) for z in range(len(ZONES))})
    pol = policy(state)
    if online_type == "online" and pol.auto_movable and group is not None and group.online_kernel_pages:
        zone = zone_for_range("online_kernel", nid, live, start_pfn, nr_pages, pol)
        return ZONES[zone], "auto-movable: part of the DIMM is already in a kernel zone"
    need = group.max_pages - group.online_movable_pages if group is not None else None
    zone = zone_for_range(online_type, nid, live, start_pfn, nr_pages, pol, need)
    return ZONES[zone], _why(online_type, pol, live, nid, start_pfn, nr_pages, need, zone)


def _why(online_type: str, pol: Policy, live: dict[int, dict[int, LiveZone]], nid: int, start: int, nr: int,
         need: int | None, zone: int) -> str:
    met = [ZONES[z] for z, lz in live[nid].items() if lz.intersects(start, nr)]
    spans = f"range meets node {nid}'s {'/'.join(met)} span" if met else f"range meets no zone span of node {nid}"
    if online_type != "online":
        return spans
    if pol.auto_movable:
        movable = sum(z[MOVABLE].present for z in live.values())
        early = sum(lz.present_early for z in live.values() for i, lz in z.items() if i != MOVABLE)
        fits = "fits" if zone == MOVABLE else "exceeds"
        return (f"auto-movable: movable {movable} + {need if need is not None else nr} pages {fits} "
                f"{pol.ratio}% of early kernel {early}")
    node = "movable_node set" if pol.movable_node else "movable_node not set"
    return f"contig-zones: {spans}; {node}"
