"""The hotplug-readiness audit: for every memory block, firmware range, DIMM and node, can it go?

A verdict has two parts. ``offlinable``: the kernel can take every page of it
away (all of it in ZONE_MOVABLE, not spanning zones, no boot reservation that is
never freed). ``removable``: offlinable and the platform can eject it (the SRAT
marks it hot-pluggable, or it was hot-added). The legacy ``removable`` sysfs file
is never read: it is 1 for every block on current kernels
(drivers/base/memory.c removable_show). Each "no" carries every reason as a
stable code (observer.audit.reasons). Pure: works on :class:`AuditFacts`.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate

from observer.audit.inputs import KERNEL_ZONES, PAGE_SHIFT, AuditFacts, Block, ZoneSpan
from observer.audit.reasons import Reason, verdict
from observer.model import hotplug
from observer.model.zones import ZONES
from probes.records import field, frozen, mutable

#: Reservation kinds that stay for the life of the kernel; initrd is freed after boot
#: (init/initramfs.c free_initrd_mem). A CMA area's pageblocks stay MIGRATE_CMA.
_PINNED = {"kernel-image": "kernel-image", "node-data": "node-data", "crashkernel": "reserved",
           "reserved": "reserved", "boot-allocations": "boot-allocations", "cma": "cma"}


@frozen(eq=False)
class Judgement:
    """What the audit says of a block, shared by every block that is alike (same state, node,
    valid_zones, and no firmware, RAM, zone or reservation boundary inside): a big machine has
    a handful of distinct ones across its blocks."""

    zones: list[str]
    hotplugged: bool
    offlinable: bool | None
    removable: bool | None
    reasons: list[Reason]


class BlockVerdict:
    """One block and its :class:`Judgement` (whose fields it shows as its own)."""

    __slots__ = ("block", "judgement")

    def __init__(self, block: Block, judgement: Judgement) -> None:
        self.block = block
        self.judgement = judgement

    @property
    def zones(self) -> list[str]:
        return self.judgement.zones

    @property
    def hotplugged(self) -> bool:
        return self.judgement.hotplugged

    @property
    def offlinable(self) -> bool | None:
        return self.judgement.offlinable

    @property
    def removable(self) -> bool | None:
        return self.judgement.removable

    @property
    def reasons(self) -> list[Reason]:
        return self.judgement.reasons


@mutable
class RangeVerdict:
    """A firmware (SRAT) range or a hot-added DIMM, ``kind`` ``srat`` or ``dimm``."""

    kind: str
    start: int
    end: int
    node: int | None
    hotpluggable: bool
    present: int
    blocks: list[int]
    hotadd_zone: str | None
    removable: bool | None
    reasons: list[Reason]


@mutable
class NodeVerdict:
    """``offlinable``: the kernel can take every present page away; ``removable``: that, and the
    platform can eject all of it; ``ready``: removable and within the MOVABLE:KERNEL ratio."""

    node: int
    present_pages: int
    movable_pages: int
    kernel_pages: int
    offlinable: bool | None
    removable: bool | None
    ready: bool | None
    reasons: list[Reason]


@mutable
class Audit:
    """The whole audit: the facts, every block, range and node verdict, advice and the checker's verdict."""

    facts: AuditFacts
    blocks: list[BlockVerdict]
    ranges: list[RangeVerdict]
    nodes: list[NodeVerdict]
    movable_pages: int
    kernel_pages: int
    ratio: int
    advice: list = field(default_factory=list)
    #: The checker's verdict on the live layout (commands/audit.check), when it ran.
    check: dict | None = None  # type: ignore[type-arg]

    @property
    def ratio_percent(self) -> float | None:
        """System-wide ZONE_MOVABLE as a percentage of the kernel zones' present pages."""
        return None if not self.kernel_pages else 100.0 * self.movable_pages / self.kernel_pages


def audit(facts: AuditFacts) -> Audit:
    """Judge every block, range and node of ``facts``."""
    ratio = facts.policy.auto_movable_ratio if facts.policy.auto_movable_ratio is not None else hotplug.DEFAULT_RATIO
    zones = facts.zones or ()
    movable = sum(z.present for z in zones if z.name == "Movable")
    kernel = sum(z.present for z in zones if z.name in KERNEL_ZONES)
    blocks = _judge_blocks(facts)
    starts = [v.block.start for v in blocks]
    ranges = [_range(facts, r, blocks, starts) for r in _ranges(facts)]
    nodes = [_node(facts, n, blocks, movable, kernel, ratio) for n in _node_ids(facts)]
    return Audit(facts, blocks, ranges, nodes, movable, kernel, ratio)


# --- blocks --------------------------------------------------------------------------------

def _hotadded(facts: AuditFacts, start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in facts.hotadded)


def _firmware_reason(facts: AuditFacts, start: int, end: int) -> Reason | None:
    """Why the platform cannot eject ``[start, end)``, or None when it can."""
    if _hotadded(facts, start, end):
        return None
    if facts.firmware is None:
        return Reason("input-missing", "the SRAT is unreadable, so hot-pluggability is unknown")
    if not facts.firmware:
        return Reason("no-srat")
    covered = [r for r in facts.firmware if r.start < end and start < r.end]
    if covered and all(r.hotpluggable for r in covered) and min(r.start for r in covered) <= start \
            and max(r.end for r in covered) >= end:
        return None
    parts = ", ".join(dict.fromkeys(f"PXM {r.pxm}" for r in covered if not r.hotpluggable))
    return Reason("not-hotpluggable", f"SRAT {parts} not hot-pluggable" if parts else "no SRAT range covers it")


def _zones_of(facts: AuditFacts, b: Block) -> list[str] | None:
    """The zones the block's memory is in: its valid_zones when online and single, else from spans."""
    if b.state != "online":
        return []
    if b.valid_zones and b.valid_zones[0] != "none" and len(b.valid_zones) == 1:
        return list(b.valid_zones)
    if facts.zones is None:
        return None if b.valid_zones is None else []
    return [z.name for z in facts.zones if (b.node is None or z.node == b.node) and z.present
            and z.intersects(b.start, b.end)]


class _Ram:
    """System RAM sorted once, with the running maximum of its ends, so each block's lookup
    starts at the first range that can reach into it (bisect) instead of scanning them all."""

    __slots__ = ("ranges", "reach")

    def __init__(self, system_ram: tuple[tuple[int, int], ...] | None) -> None:
        self.ranges = None if system_ram is None else sorted(system_ram)
        self.reach = [] if self.ranges is None else list(accumulate((e for _, e in self.ranges), max))


def _holes(ram: _Ram, b: Block) -> str:
    """The parts of the block that are not System RAM, as text ("" when it is all RAM or unknown)."""
    if ram.ranges is None:
        return ""
    gaps, at = [], b.start
    for i in range(bisect_right(ram.reach, at), len(ram.ranges)):  # earlier ranges all end by b.start
        s, e = ram.ranges[i]
        if s >= b.end:
            break  # sorted by start: the rest start later still
        if e <= at:
            continue
        if s > at:
            gaps.append((at, s))
        at = max(at, e)
    if at < b.end:
        gaps.append((at, b.end))
    return ", ".join(f"{s:#x}-{e - 1:#x} not RAM" for s, e in gaps)


def _kernel_zone_hint(facts: AuditFacts, b: Block, hotplugged: bool) -> str:
    """Which option would move the block out of the kernel zone."""
    if hotplugged:
        return ("hot-added and onlined to a kernel zone; memhp_default_state=online_movable (or "
                "memory_hotplug.online_policy=auto-movable) would online it to Movable")
    fw = [r for r in facts.firmware or () if r.start < b.end and b.start < r.end]
    if fw and all(r.hotpluggable for r in fw):
        held = (facts.kernel_nodes or {}).get(b.node) if b.node is not None else None
        if held:
            return (f"hot-pluggable, but node {b.node} holds {', '.join(held)}; only kernelcore=/movablecore= "
                    "or moving those reservations off the node would make it Movable")
        if not facts.policy.movable_node:
            return "hot-pluggable per SRAT; movable_node would put it in Movable"
        return ("hot-pluggable per SRAT and movable_node is set, yet the kernel kept it in a kernel zone: "
                "its node lost the hot-pluggable mark at boot (movcheck plan --explain shows why)")
    return "kernelcore= or movablecore= would move it to Movable (the platform still could not eject it)"


def _cuts(facts: AuditFacts) -> list[int]:
    """Every address where a fact the verdict looks at begins or ends: firmware ranges, System
    RAM, hot-added ranges, reservations and zone spans. Blocks with no cut inside them, in the
    same gap between cuts and alike in state, node and valid_zones, get the same judgement."""
    cuts = {a for r in facts.firmware or () for a in (r.start, r.end)}
    cuts |= {a for rng in (facts.system_ram or (), facts.hotadded) for s, e in rng for a in (s, e)}
    cuts |= {a for r in facts.reservations for a in (r.start, r.end)}
    cuts |= {a for z in facts.zones or () if z.start is not None for a in (z.start, z.end)}  # type: ignore[misc]
    return sorted(cuts)  # type: ignore[type-var]


def _judge_blocks(facts: AuditFacts) -> list[BlockVerdict]:
    """Every block's verdict, a judgement made once per kind of block (see :func:`_cuts`)."""
    ram = _Ram(facts.system_ram)
    cuts = _cuts(facts)
    shared: dict = {}  # type: ignore[type-arg]
    alike: dict[tuple, Judgement] = {}  # type: ignore[type-arg]
    out = []
    for b in facts.blocks or ():
        gap = bisect_right(cuts, b.start)
        if gap < len(cuts) and cuts[gap] < b.end:  # a fact begins or ends inside the block
            j = _judge(facts, b, ram, shared)
        else:
            key = (gap, b.state, b.node, b.valid_zones)
            j = alike.get(key)  # type: ignore[assignment]
            if j is None:
                j = _judge(facts, b, ram, shared)
                if not any(r.code == "memory-hole" for r in j.reasons):  # its detail names the block
                    alike[key] = j
        out.append(BlockVerdict(b, j))
    return out


def _judge(facts: AuditFacts, b: Block, ram: _Ram, shared: dict) -> Judgement:  # type: ignore[type-arg]
    """One block's judgement; equal reasons and zone lists are one object in ``shared``."""
    hotplugged = _hotadded(facts, b.start, b.end)
    zones = _zones_of(facts, b)
    mem: list[Reason] = []
    if b.state == "offline":
        mem.append(Reason("offline"))
    elif zones is None or b.state != "online":
        mem.append(Reason("no-zone-info") if zones is None else Reason("input-missing", f"state {b.state!r}"))
    elif b.valid_zones == ("none",) or len(zones) > 1:
        mem.append(Reason("mixed-zones", ", ".join(zones) or "none"))
    elif zones and zones[0] in KERNEL_ZONES:
        mem.append(Reason("kernel-zone", f"{zones[0]}: {_kernel_zone_hint(facts, b, hotplugged)}"))
    holes = _holes(ram, b) if b.state == "online" else ""
    if holes:
        mem.append(Reason("memory-hole", holes))
    mem += [Reason(_PINNED[res.kind], f"{res.label} {res.start:#x}-{res.end - 1:#x}") for res in facts.reservations
            if res.kind in _PINNED and b.state == "online" and res.start < b.end and b.start < res.end]
    if hotplugged and facts.policy.memmap_on_memory:
        mem.append(Reason("memmap-on-memory"))
    offlinable = verdict(mem)
    fw = _firmware_reason(facts, b.start, b.end)
    reasons = mem + ([fw] if fw else [])
    if fw is None and b.node is not None and (facts.kernel_nodes or {}).get(b.node) and not hotplugged \
            and any(r.code == "kernel-zone" for r in mem):
        reasons.append(Reason("kernel-node", f"node {b.node}: {', '.join(facts.kernel_nodes[b.node])}"))  # type: ignore[index]
    reasons = [shared.setdefault(r, r) for r in reasons]
    zones = shared.setdefault(tuple(zones or ()), zones or [])
    return Judgement(zones, hotplugged, offlinable, verdict(reasons), reasons)


# --- ranges (SRAT entries and DIMMs) -------------------------------------------------------

def _ranges(facts: AuditFacts) -> list[tuple[str, int, int, int | None, bool, int]]:
    """(kind, start, end, node, hotpluggable, pxm) for every SRAT range and hot-added DIMM."""
    out = [("srat", r.start, r.end, r.node, r.hotpluggable, r.pxm) for r in facts.firmware or ()]
    out += [("dimm", s, e, facts.node_of(s, e), True, -1) for s, e in facts.hotadded]
    return sorted(out, key=lambda t: (t[1], t[0] == "srat"))


def hotadd_zone(facts: AuditFacts, node: int | None, start: int, end: int) -> str | None:
    """The zone memory hot-added at ``[start, end)`` would be onlined to, "offline", or None if unknown.

    The default online type (auto_online_blocks, set by memhp_default_state), then the
    model's mm/memory_hotplug.c zone_for_pfn_range over the live zones, the whole range
    taken as one static memory group (an ACPI DIMM).
    """
    pol = facts.policy
    kernel_nodes = {z.node for z in facts.zones or ()}
    if node is None and len(kernel_nodes) == 1:  # NUMA off or rejected: everything is node 0
        node = kernel_nodes.pop()
    if pol.auto_online is None or node is None:
        return None
    if pol.auto_online == "offline":
        return "offline"
    live: dict[int, dict[int, hotplug.LiveZone]] = {}
    for n in {z.node for z in facts.zones or ()} | {node}:
        live[n] = {i: hotplug.LiveZone(0, 0, 0, 0) for i in range(len(ZONES))}
    hot = [v for v in facts.blocks or () if v.state == "online" and facts.hotadded
           and any(s <= v.start and v.end <= e for s, e in facts.hotadded)]
    for z in facts.zones or ():
        if z.name in ZONES and z.start_pfn is not None:
            late = sum((b.end - b.start) >> PAGE_SHIFT for b in hot if b.node == z.node and b.valid_zones == (z.name,))
            live[z.node][ZONES.index(z.name)] = hotplug.LiveZone(z.start_pfn, z.spanned, z.present, z.present - late)
    policy = hotplug.Policy(pol.auto_online, pol.online_policy == "auto-movable",
                            pol.auto_movable_ratio if pol.auto_movable_ratio is not None else hotplug.DEFAULT_RATIO,
                            pol.auto_movable_numa_aware is not False, pol.movable_node)
    nr = (end - start) >> PAGE_SHIFT
    return ZONES[hotplug.zone_for_range(pol.auto_online, node, live, start >> PAGE_SHIFT, nr, policy)]


def _range(facts: AuditFacts, r: tuple, blocks: list[BlockVerdict], starts: list[int]) -> RangeVerdict:
    """``starts``: each block's start, in order (the blocks are sorted and do not overlap)."""
    kind, start, end, node, hotpluggable, pxm = r
    first = max(bisect_right(starts, start) - 1, 0)
    inside = [v for v in blocks[first:bisect_left(starts, end)] if v.block.start < end and start < v.block.end]
    present = sum(min(end, v.block.end) - max(start, v.block.start) for v in inside)
    reasons: list[Reason] = []
    zone = None
    if kind == "srat" and not hotpluggable:
        reasons.append(Reason("not-hotpluggable", f"SRAT PXM {pxm}"))
    if not inside:
        if hotpluggable:  # an empty hot-plug window: judge what a DIMM added here would become
            zone = hotadd_zone(facts, node, start, end)
            if zone is None:
                reasons.append(Reason("input-missing", "auto_online_blocks unreadable"))
            elif zone == "offline":
                reasons.append(Reason("hotadd-offline"))
            elif zone != "Movable":
                reasons.append(Reason("hotadd-kernel-zone", _hotadd_detail(facts, zone)))
        else:
            reasons.append(Reason("absent"))
    reasons += _gather(inside, skip=("not-hotpluggable",) if kind == "srat" else ())
    return RangeVerdict(kind, start, end, node, hotpluggable, present, [v.block.number for v in inside],
                        zone, verdict(reasons), reasons)


def _hotadd_detail(facts: AuditFacts, zone: str) -> str:
    pol = facts.policy
    how = f"auto_online_blocks={pol.auto_online}, online_policy={pol.online_policy or 'contig-zones'}"
    return f"would go to {zone} ({how}); memhp_default_state=online_movable would put it in Movable"


def _gather(verdicts: list[BlockVerdict], skip: tuple[str, ...] = ()) -> list[Reason]:
    """The blocks' reasons, one per code: which blocks share it and up to three distinct details."""
    alike: dict[Judgement, list[int]] = {}
    for v in verdicts:
        nums = alike.get(v.judgement)
        if nums is None:
            alike[v.judgement] = nums = []
        nums.append(v.block.number)
    by_code: dict[str, tuple[list[int], list[str]]] = {}
    for j, numbers in alike.items():
        for r in j.reasons:
            if r.code in skip:
                continue
            nums, details = by_code.setdefault(r.code, ([], []))
            nums += numbers
            if r.detail and r.detail not in details:
                details.append(r.detail)
    out = []
    for code, (nums, details) in by_code.items():
        text = "; ".join(details[:3]) + (f"; and {len(details) - 3} more" if len(details) > 3 else "")
        out.append(Reason(code, f"{block_list(nums)}: {text}" if text else block_list(nums)))
    return out


def block_list(numbers: list[int]) -> str:
    """``block 3`` or ``blocks 0-5,9`` (runs of consecutive numbers compacted)."""
    nums = sorted(set(numbers))
    runs: list[list[int]] = []
    for n in nums:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
    return f"block{'s' if len(nums) > 1 else ''} {text}"


# --- nodes ---------------------------------------------------------------------------------

def _node_ids(facts: AuditFacts) -> list[int]:
    """The nodes the kernel has (zoneinfo, block links, node/online), not the ones the SRAT names."""
    ids = {z.node for z in facts.zones or ()} | {b.node for b in facts.blocks or () if b.node is not None}
    ids |= set(facts.online_nodes or ())
    return sorted(ids)


def _node(facts: AuditFacts, node: int, blocks: list[BlockVerdict], movable_all: int, kernel_all: int,
          ratio: int) -> NodeVerdict:
    zones: list[ZoneSpan] = [z for z in facts.zones or () if z.node == node]
    present = sum(z.present for z in zones)
    movable = sum(z.present for z in zones if z.name == "Movable")
    kernel = sum(z.present for z in zones if z.name in KERNEL_ZONES)
    mine = [v for v in blocks if v.block.node == node]
    own: list[Reason] = []  # what the node's zones say; the blocks add theirs below
    if facts.zones is None:
        own.append(Reason("input-missing", "proc/zoneinfo unreadable"))
    elif present == 0:
        own.append(Reason("memoryless-node"))
    elif kernel:
        where = ", ".join(f"{z.name} {_mib(z.present)}" for z in zones if z.name in KERNEL_ZONES and z.present)
        held = (facts.kernel_nodes or {}).get(node)
        why = f"; the node holds {', '.join(held)}" if held else ""
        own.append(Reason("kernel-zone", f"{where} of {_mib(present)} present{why}"))
    offlinable = verdict(own)
    if offlinable is not False:
        per_block = [v.offlinable for v in mine]
        offlinable = False if False in per_block else None if None in per_block else offlinable
    reasons = own + _gather(mine, skip=("offline",) if facts.zones is None
                            else ("kernel-zone", "offline", "no-zone-info"))
    offline = [v.block.number for v in mine if v.block.state == "offline"]
    if offline:
        reasons.append(Reason("partly-offline", f"{block_list(offline)} of {len(mine)}"))
    removable = verdict(reasons)
    if movable and kernel_all and movable_all * 100 > ratio * kernel_all:
        reasons.append(Reason("movable-ratio", f"system Movable {_mib(movable_all)} is "
                              f"{100 * movable_all // kernel_all}% of kernel zones' {_mib(kernel_all)} "
                              f"(limit {ratio}%)"))
    elif movable and not kernel_all:
        reasons.append(Reason("movable-ratio", "no kernel-zone memory at all"))
    ready = removable if removable is not True else not any(r.code == "movable-ratio" for r in reasons)
    return NodeVerdict(node, present, movable, kernel, offlinable, removable, ready, reasons)


def _mib(pages: int) -> str:
    mib = (pages << PAGE_SHIFT) / (1 << 20)
    return f"{mib:.0f} MiB" if mib < 10240 else f"{mib / 1024:.1f} GiB"


__all__ = ["Audit", "BlockVerdict", "Judgement", "NodeVerdict", "RangeVerdict", "audit", "block_list", "hotadd_zone"]
