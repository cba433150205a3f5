"""The zone the kernel should pick when onlining a hot-added range, from a :class:`HotplugState`.

A minimal stand-in for the model's hot-add rules (observer.model.hotplug did not
exist when the observer was written). It follows ``mm/memory_hotplug.c``
(``zone_for_pfn_range``, ``default_kernel_zone_for_pfn``, ``default_zone_for_pfn``,
``auto_movable_zone_for_pfn``, ``auto_movable_can_online_movable``), as paraphrased in
the project's kernel-rules notes §4.3. Known approximation: the kernel's
``present_early_pages`` (boot memory) is taken as the kernel zones' present pages
in the snapshot the watch started from, so memory hot-added before that snapshot
counts as early.
"""
from __future__ import annotations

from dataclasses import dataclass

from probes.sysfs_poll import KERNEL_ZONES, HotplugState

ONLINE_TYPES = ("online", "online_kernel", "online_movable")


@dataclass(frozen=True)
class Group:
    """A static memory group (one ACPI DIMM): its whole size and what of it is online where."""

    max_pages: int
    online_kernel_pages: int
    online_movable_pages: int


def _intersects(state: HotplugState, nid: int, zone: str, start: int, nr: int) -> bool:
    """``zone_intersects``: false for an empty zone, else the spans overlap."""
    span = state.zones.get((nid, zone))
    if span is None or span.spanned == 0 or span.start_pfn is None:
        return False
    return start < span.start_pfn + span.spanned and start + nr > span.start_pfn


def default_kernel_zone(state: HotplugState, nid: int, start: int, nr: int) -> tuple[str, str]:
    """``default_kernel_zone_for_pfn``: the first of DMA, DMA32 whose span meets the range, else Normal."""
    for zone in KERNEL_ZONES[:-1]:
        if _intersects(state, nid, zone, start, nr):
            return zone, f"range meets node {nid}'s {zone} span"
    return "Normal", "kernel zone for a range outside DMA/DMA32"


def _contig_zones(state: HotplugState, nid: int, start: int, nr: int) -> tuple[str, str]:
    """``default_zone_for_pfn``: inherit the one zone whose span the range meets, else the default."""
    kernel, _ = default_kernel_zone(state, nid, start, nr)
    in_k = _intersects(state, nid, kernel, start, nr)
    in_m = _intersects(state, nid, "Movable", start, nr)
    if in_k != in_m:
        zone = kernel if in_k else "Movable"
        return zone, f"contig-zones: range meets only node {nid}'s {zone} span"
    where = "both Normal and Movable spans" if in_k else "no zone span"
    if state.movable_node:
        return "Movable", f"contig-zones: range meets {where}; movable_node set"
    return kernel, f"contig-zones: range meets {where}; movable_node not set"


def _can_online_movable(state: HotplugState, nid: int | None, nr: int) -> tuple[bool, str]:
    """``auto_movable_can_online_movable``: MOVABLE + nr <= ratio% x early kernel pages."""
    kernel = movable = 0
    for (node, zone), span in state.zones.items():
        if nid is not None and node != nid:
            continue
        if zone in KERNEL_ZONES:
            kernel += span.present
        elif zone == "Movable":
            movable += span.present
    limit = state.auto_movable_ratio * kernel // 100
    where = "system" if nid is None else f"node {nid}"
    return movable + nr <= limit, f"{where}: movable {movable}+{nr} pages vs {state.auto_movable_ratio}% of kernel {kernel}"


def _auto_movable(state: HotplugState, nid: int, start: int, nr: int, group: Group | None) -> tuple[str, str]:
    if state.auto_movable_ratio == 0:
        return default_kernel_zone(state, nid, start, nr)[0], "auto-movable: ratio 0"
    if group is not None:
        if group.online_kernel_pages:
            return default_kernel_zone(state, nid, start, nr)[0], "auto-movable: part of the DIMM is already in a kernel zone"
        nr = group.max_pages - group.online_movable_pages
    ok, why = _can_online_movable(state, None, nr)
    if ok and state.auto_movable_numa_aware:
        ok, why = _can_online_movable(state, nid, nr)
    if not ok:
        return default_kernel_zone(state, nid, start, nr)[0], f"auto-movable: ratio exceeded ({why})"
    return "Movable", f"auto-movable: fits the ratio ({why})"


def expected_zone(state: HotplugState, online_type: str, nid: int, start_pfn: int, nr_pages: int,
                  group: Group | None = None) -> tuple[str, str]:
    """``zone_for_pfn_range``: the zone name an online of this type should pick, and why."""
    if online_type == "online_kernel":
        zone, why = default_kernel_zone(state, nid, start_pfn, nr_pages)
        return zone, f"online_kernel: {why}"
    if online_type == "online_movable":
        return "Movable", "online_movable asks for ZONE_MOVABLE"
    if online_type != "online":
        raise ValueError(f"unknown online type {online_type!r}")
    if state.online_policy == "auto-movable":
        return _auto_movable(state, nid, start_pfn, nr_pages, group)
    return _contig_zones(state, nid, start_pfn, nr_pages)
