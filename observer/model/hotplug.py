"""Memory blocks: the zone each block is in or would join, hot-add onlining, boot blocks offlined
at run time, valid_zones."""
from __future__ import annotations

from bisect import bisect_right
from typing import Callable

from observer.model.inputs import PAGE_SHIFT, BlockInfo, HotplugParams
from observer.model.memblock import Memblock
from observer.model.trace import Trace
from observer.model.zones import MOVABLE, NORMAL, ZONES
from probes.records import frozen, mutable, replace

#: mm/memory_hotplug.c: auto_movable_ratio defaults to 301 (%).
DEFAULT_RATIO = 301
#: PAGES_PER_SUBSECTION on x86_64 (include/linux/mmzone.h SUBSECTION_SHIFT 21): the step of
#: find_smallest_section_pfn / find_biggest_section_pfn and the grain of early memmap validity.
SUBSECTION_PAGES = 512


@mutable
class LiveZone:
    """A zone's span and page counts while blocks are onlined (present_early = boot pages)."""

    start: int
    spanned: int
    present: int
    present_early: int

    @property
    def end(self) -> int:
        return self.start + self.spanned

    def intersects(self, start: int, nr: int) -> bool:
        """mm/memory_hotplug.c zone_intersects."""
        return bool(self.spanned) and start < self.end and start + nr > self.start


@frozen
class BlockPrediction:
    """One memory block: where it is (online) or would go (offline), and valid_zones."""

    number: int
    node: int | None
    online: bool
    boot: bool
    zone: str | None      # online: the zone it is in ("none" rules give None)
    valid_zones: str      # the text sysfs would show


@frozen
class Policy:
    """The onlining policy in force: default online type, online_policy, ratio, NUMA awareness."""

    default_online: str   # offline | online | online_kernel | online_movable
    auto_movable: bool
    ratio: int
    numa_aware: bool
    movable_node: bool


def _kernel_zone(zones: dict[int, LiveZone], start: int, nr: int) -> int:
    """default_kernel_zone_for_pfn: the first of DMA, DMA32 whose span intersects, else Normal."""
    for z in range(NORMAL):
        if zones[z].intersects(start, nr):
            return z
    return NORMAL


def _default_zone(zones: dict[int, LiveZone], start: int, nr: int, movable_node: bool) -> int:
    """default_zone_for_pfn (contig-zones): keep zones contiguous, else movable_node decides."""
    k = _kernel_zone(zones, start, nr)
    in_k, in_m = zones[k].intersects(start, nr), zones[MOVABLE].intersects(start, nr)
    if in_k != in_m:
        return k if in_k else MOVABLE
    return MOVABLE if movable_node else k


def _auto_movable_ok(stats: list[dict[int, LiveZone]], nr: int, ratio: int) -> bool:
    """auto_movable_can_online_movable: movable + nr <= ratio% of early kernel pages."""
    movable = sum(z[MOVABLE].present for z in stats)
    kernel_early = sum(zone.present_early for z in stats for i, zone in z.items() if i != MOVABLE)
    return movable + nr <= ratio * kernel_early // 100


def zone_for_range(online_type: str, nid: int, live: dict[int, dict[int, LiveZone]], start: int, nr: int,
                   policy: Policy, group_movable_pages: int | None = None, group_has_kernel: bool = False) -> int:
    """mm/memory_hotplug.c zone_for_pfn_range (and auto_movable_zone_for_pfn). For a static
    memory group (an ACPI DIMM) ``group_movable_pages`` is the group's pages not yet online
    to Movable, and a group with kernel pages stays in the kernel zone."""
    zones = live[nid]
    if online_type == "online_kernel":
        return _kernel_zone(zones, start, nr)
    if online_type == "online_movable":
        return MOVABLE
    if policy.auto_movable:
        if group_has_kernel:
            return _kernel_zone(zones, start, nr)
        need = group_movable_pages if group_movable_pages is not None else nr
        if not policy.ratio or not _auto_movable_ok(list(live.values()), need, policy.ratio):
            return _kernel_zone(zones, start, nr)
        if policy.numa_aware and not _auto_movable_ok([zones], need, policy.ratio):
            return _kernel_zone(zones, start, nr)
        return MOVABLE
    return _default_zone(zones, start, nr, policy.movable_node)


def online_block(zone: LiveZone, start: int, nr: int) -> None:
    """move_pfn_range_to_zone/resize_zone_range and adjust_present_page_count."""
    if not zone.spanned or start < zone.start:
        end = max(start + nr, zone.end) if zone.spanned else start + nr
        zone.start = start
        zone.spanned = end - start
    else:
        zone.spanned = max(start + nr, zone.end) - zone.start
    zone.present += nr


def shrink_zone_span(zone: LiveZone, start: int, end: int, online: list[tuple[int, int]]) -> None:
    """mm/memory_hotplug.c shrink_zone_span: only a range at the zone's first pfn
    (find_smallest_section_pfn) or ending at its end (find_biggest_section_pfn) moves that edge,
    to the nearest pfn still online in the zone; with none left the zone empties (start 0,
    spanned 0). ``online``: the zone's online pfn ranges, subsection-aligned, without the range."""
    if zone.start == start:
        first = min((max(s, end) for s, e in online if max(s, end) < min(e, zone.end)), default=None)
        if first is None:
            zone.start = zone.spanned = 0
        else:
            zone.spanned, zone.start = zone.end - first, first
    elif zone.end == end:
        last = max((min(e, start) for s, e in online if max(s, zone.start) < min(e, start)), default=None)
        if last is None:
            zone.start = zone.spanned = 0
        else:
            zone.spanned = last - zone.start


def offline_block(zone: LiveZone, start: int, nr: int, online: list[tuple[int, int]], early: bool) -> None:
    """mm/memory_hotplug.c offline_pages: adjust_present_page_count takes the block's pages out of
    present (and present_early_pages for an early section), then remove_pfn_range_from_zone
    shrinks the span (:func:`shrink_zone_span`; update_pgdat_span follows the zones)."""
    zone.present -= nr
    if early:
        zone.present_early -= nr
    shrink_zone_span(zone, start, start + nr, online)


def _subtract(ranges: list[tuple[int, int]], s: int, e: int) -> list[tuple[int, int]]:
    out = []
    for a, b in ranges:
        out += [r for r in ((a, min(b, s)), (max(a, e), b)) if r[0] < r[1]]
    return out


def _zone_pages(mb: Memblock, nid: int, span: tuple[int, int]) -> list[tuple[int, int]]:
    """The boot pfn ranges of a zone: the node's memblock ranges inside its boot span, widened to
    whole subsections (mm/sparse.c subsection_map_init marks every subsection a range touches,
    and pfn_to_online_page looks no finer)."""
    out: list[tuple[int, int]] = []
    for rs, re_, _ in mb.pfn_ranges(nid):
        s, e = max(rs, span[0]), min(re_, span[1])
        if s < e:
            s = max(span[0], s - s % SUBSECTION_PAGES)
            e = min(span[1], -(-e // SUBSECTION_PAGES) * SUBSECTION_PAGES)
            if out and out[-1][1] >= s:
                out[-1] = (out[-1][0], max(out[-1][1], e))
            else:
                out.append((s, e))
    return out


def _offline_boot(mb: Memblock, live: dict[int, dict[int, LiveZone]], boot: dict[int, dict[int, tuple[int, int]]],
                  gone: list[tuple[BlockInfo, int | None]], hot_online: list[tuple[BlockInfo, int]],
                  trace: Trace) -> None:
    """Take the boot blocks sysfs shows offline out of their boot zones (:func:`offline_block`), in
    block order, after the hot-added blocks were onlined (neither order is recorded; whole-block
    zone edges end the same in any order). ``boot``: the boot spans; ``hot_online``: (hot-added
    online block, its zone), whose pages count as online in that zone."""
    known = [(b, b.node, z) for b, z in gone if z is not None and b.node is not None]
    odd = [b.index for b, z in gone if z is None or b.node is None]
    if odd:
        trace.assume(f"boot block(s) {', '.join(f'memory{i}' for i in odd)} offline though not in one boot zone "
                     "(onlined elsewhere and offlined again?): left out of the zone accounting")
    if hot_online and known:
        trace.assume("boot blocks assumed offlined after the hot-added blocks were onlined (the order is not recorded)")
    online: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for b, nid, z in known:
        s, e = b.start >> PAGE_SHIFT, b.end >> PAGE_SHIFT
        if (nid, z) not in online:
            online[(nid, z)] = sorted(_zone_pages(mb, nid, boot[nid][z]) + [
                (h.start >> PAGE_SHIFT, h.end >> PAGE_SHIFT) for h, hz in hot_online if h.node == nid and hz == z])
        online[(nid, z)] = _subtract(online[(nid, z)], s, e)  # offline_pages marks the sections offline first
        offline_block(live[nid][z], s, e - s, online[(nid, z)], early=True)
    trace.step("offline-boot", f"{len(known)} boot block(s) offline ("
               + ", ".join(f"memory{b.index}" for b, _, _ in known) + "); zones after offlining: " + "; ".join(
                   f"node {n} {ZONES[z]} start {live[n][z].start:#x} spanned {live[n][z].spanned} "
                   f"present {live[n][z].present}" for n, z in sorted(online)), mb)


def _early_zone(zones: dict[int, LiveZone], start: int, nr: int) -> int | None:
    """drivers/base/memory.c early_node_zone_for_memory_block: the one populated zone whose
    span intersects the block, else None."""
    hits = [z for z, lz in zones.items() if lz.present and lz.intersects(start, nr)]
    return hits[0] if len(hits) == 1 else None


class _EarlyZones:
    """:func:`_early_zone` over settled zones, once per node and gap between zone edges (a
    block with no edge inside it meets the same zones as every other block in its gap)."""

    def __init__(self, live: dict[int, dict[int, LiveZone]]) -> None:
        self.live = live
        self.edges = {n: sorted({x for lz in zs.values() if lz.spanned for x in (lz.start, lz.end)})
                      for n, zs in live.items()}
        self.known: dict[tuple[int, int], int | None] = {}

    def zone(self, nid: int, start: int, nr: int) -> int | None:
        edges = self.edges.get(nid, [])
        gap = bisect_right(edges, start)
        if gap < len(edges) and edges[gap] < start + nr:
            return _early_zone(self.live.get(nid, {}), start, nr)
        key = (nid, gap)
        if key not in self.known:
            self.known[key] = _early_zone(self.live.get(nid, {}), start, nr)
        return self.known[key]


def predict_blocks(mb: Memblock, live: dict[int, dict[int, LiveZone]], blocks: tuple[BlockInfo, ...],
                   policy: Policy, trace: Trace, replay: bool = False,
                   recorded_boot: frozenset[int] = frozenset(),
                   zone_seen: Callable[[int], str | None] | None = None) -> list[BlockPrediction]:
    """Online the hot-added blocks that are online (in block order, DIMM by DIMM), take the boot
    blocks that are offline out of their zones, then say for every block its zone or valid_zones
    (drivers/base/memory.c valid_zones_show). With ``replay`` (a what-if), boot blocks are all
    online (a fresh boot), hot-added blocks are online exactly when the default online type
    is not offline (add_memory_resource onlines them at add time), and blocks of the recorded
    boot's memory (``recorded_boot``) that the new line leaves without RAM are dropped.
    ``zone_seen`` (the checker's, not in a what-if): the zone a hot-added block was onlined to
    by hand, whose online type is not an input."""
    out: list[BlockPrediction] = []
    if replay:
        auto = policy.default_online != "offline"
        if any(not b.online and _is_boot(mb, b) for b in blocks):
            trace.assume("what-if: a fresh boot onlines all boot memory; boot blocks offlined at run time "
                         "are not replayed")
        blocks = tuple(b._replace(online=True) if _is_boot(mb, b) else b._replace(online=auto)
                       for b in blocks if _is_boot(mb, b) or b.index not in recorded_boot)
        trace.assume("what-if: hot-added blocks are " + ("onlined at add time" if auto else "left offline")
                     + f" by the default online type '{policy.default_online}'; later manual onlining is not replayed")
    boot_nodes = _boot_nodes(mb, blocks)
    # drivers/base/memory.c memory_block_add_nid: a boot block's zone is fixed when its node registers,
    # against the boot spans (copied: hot-add and offline below change the live ones).
    early = _EarlyZones({n: {z: replace(lz) for z, lz in zs.items()} for n, zs in live.items()})

    def boot_zone(b: BlockInfo) -> int | None:
        if b.node is None or len(boot_nodes[b.index]) != 1:
            return None
        return early.zone(b.node, b.start >> PAGE_SHIFT, (b.end - b.start) >> PAGE_SHIFT)
    boot_spans = {n: {z: (lz.start, lz.end) for z, lz in zs.items()} for n, zs in live.items()}
    groups = _groups([b for b in blocks if not boot_nodes[b.index]])
    online_type = policy.default_online if policy.default_online != "offline" else "online"
    zone_of: dict[int, int | None] = {}
    by_hand: list[int] = []
    for group in groups:
        remaining = sum((b.end - b.start) >> PAGE_SHIFT for b in group)
        has_kernel = False
        for b in group:
            if not b.online or b.node is None:
                continue
            s, nr = b.start >> PAGE_SHIFT, (b.end - b.start) >> PAGE_SHIFT
            live.setdefault(b.node, {z: LiveZone(0, 0, 0, 0) for z in range(len(ZONES))})
            seen = zone_seen(b.index) if zone_seen is not None and not replay else None
            if seen in ZONES:
                z = ZONES.index(seen)
            elif policy.default_online == "offline":
                by_hand.append(b.index)
                z = zone_for_range("online", b.node, live, s, nr, policy, remaining, has_kernel)
            else:
                z = zone_for_range(online_type, b.node, live, s, nr, policy, remaining, has_kernel)
            has_kernel |= z != MOVABLE
            if z == MOVABLE:
                remaining -= nr
            online_block(live[b.node][z], s, nr)
            zone_of[b.index] = z
    if by_hand:
        trace.assume(f"{len(by_hand)} hot-added block(s) (memory{by_hand[0]}..memory{by_hand[-1]}) were onlined "
                     "by hand (auto-online is off): assumed 'online', the type a plain 'echo online' picks")
    if zone_of:
        trace.step("hotadd-auto-movable" if policy.auto_movable else "hotadd-zone",
                   f"hot-added blocks onlined as '{online_type}': " + ", ".join(
                       f"memory{i} -> {ZONES[z]}" for i, z in zone_of.items() if z is not None), mb)
        trace.step("hotadd-span", "zones after onlining: " + "; ".join(
            f"node {n} {ZONES[z]} start {lz.start:#x} spanned {lz.spanned} present {lz.present}"
            for n in sorted(live) for z, lz in sorted(live[n].items()) if lz.spanned), mb)
    gone = [(b, boot_zone(b)) for b in blocks if not b.online and boot_nodes[b.index]]
    if gone:
        _offline_boot(mb, live, boot_spans, gone, [(b, z) for b in blocks if (z := zone_of.get(b.index)) is not None],  # type: ignore[assignment]
                      trace)
    for b in blocks:
        s, nr = b.start >> PAGE_SHIFT, (b.end - b.start) >> PAGE_SHIFT
        boot = bool(boot_nodes[b.index])
        nid = b.node
        if b.online:
            z = boot_zone(b) if boot else zone_of.get(b.index)  # type: ignore[assignment]
            name = ZONES[z] if z is not None else None
            out.append(BlockPrediction(b.index, nid, True, boot, name, name or "none"))
            continue
        if nid is None:
            out.append(BlockPrediction(b.index, nid, False, boot, None, "none"))
            continue
        live.setdefault(nid, {z: LiveZone(0, 0, 0, 0) for z in range(len(ZONES))})
        first = zone_for_range("online", nid, live, s, nr, policy)
        names = [ZONES[first]]
        for extra in (zone_for_range("online_kernel", nid, live, s, nr, policy), MOVABLE):
            if ZONES[extra] not in names:
                names.append(ZONES[extra])
        out.append(BlockPrediction(b.index, nid, False, boot, None, " ".join(names)))
    return out


def _boot_nodes(mb: Memblock, blocks: tuple[BlockInfo, ...]) -> dict[int, tuple[int, ...]]:
    """Per block index, the nodes of the boot memory (memblock.memory) it meets; the regions are
    sorted and disjoint, so each search starts by bisect at the last one starting before it.
    Equal node tuples are one object (a big machine has a handful)."""
    ranges = mb.pfn_ranges()
    starts = [rs for rs, _, _ in ranges]
    seen: dict[tuple[int, ...], tuple[int, ...]] = {}
    out: dict[int, tuple[int, ...]] = {}
    for b in blocks:
        s, e = b.start >> PAGE_SHIFT, b.end >> PAGE_SHIFT
        nodes = []
        for rs, re, r in ranges[max(bisect_right(starts, s) - 1, 0):]:
            if rs >= e:
                break
            if re > s and r.nid not in nodes:
                nodes.append(r.nid)
        key = tuple(nodes)
        out[b.index] = seen.setdefault(key, key)
    return out


def _is_boot(mb: Memblock, b: BlockInfo) -> bool:
    s, e = b.start >> PAGE_SHIFT, b.end >> PAGE_SHIFT
    return any(rs < e and re > s for rs, re, _ in mb.pfn_ranges())


def _groups(blocks: list[BlockInfo]) -> list[list[BlockInfo]]:
    """Hot-added blocks grouped as ACPI memory devices: runs of adjacent blocks on one node."""
    out: list[list[BlockInfo]] = []
    for b in sorted(blocks, key=lambda x: x.start):
        if out and out[-1][-1].end == b.start and out[-1][-1].node == b.node:
            out[-1].append(b)
        else:
            out.append([b])
    return out


def policy_from(params: HotplugParams, cmdline_state: str | None, cmdline_policy: str | None,
                cmdline_ratio: int | None, cmdline_numa_aware: bool | None, movable_node: bool,
                trace: Trace, mb: Memblock) -> Policy:
    """The policy in force: the command line (memhp_default_state=, memory_hotplug.*), else the
    values sysfs showed for options the recorded line did not set (the build's defaults), else
    the kernel defaults (contig-zones, ratio 301, NUMA aware) and, for the default online type,
    the build default of the release's series (:attr:`RuleSet.default_online`)."""
    state = cmdline_state or params.auto_online_blocks
    if state is None:
        state = trace.rules.default_online
        trace.assume(f"default online type of hot-added memory not readable: assumed '{state}', "
                     f"the default of Debian's {trace.rules.series[0]}.{trace.rules.series[1]} build")
    if not trace.rules.online_policy:
        if cmdline_policy or cmdline_ratio is not None or cmdline_numa_aware is not None:
            trace.step("online-policy-absent", f"kernel {trace.rules.series[0]}.{trace.rules.series[1]} has no "
                       "memory_hotplug.online_policy/auto_movable_*: the command line's words are ignored", mb)
        return Policy(state, False, DEFAULT_RATIO, True, movable_node)
    policy = cmdline_policy or params.online_policy or "contig-zones"
    ratio = next((r for r in (cmdline_ratio, params.auto_movable_ratio) if r is not None), DEFAULT_RATIO)
    aware = next((a for a in (cmdline_numa_aware, params.auto_movable_numa_aware) if a is not None), True)
    return Policy(state, policy == "auto-movable", ratio, aware, movable_node)


def live_zones(layout: list, nodes: list[int]) -> dict[int, dict[int, LiveZone]]:
    """The boot zones as the hotplug code sees them."""
    live: dict[int, dict[int, LiveZone]] = {n: {} for n in nodes}
    for z in layout:
        live.setdefault(z.node, {})[ZONES.index(z.zone)] = LiveZone(z.start_pfn, z.spanned, z.present, z.present)
    return live
