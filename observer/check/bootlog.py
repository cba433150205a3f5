"""The prediction held against the kernel's own zone lines in the boot log.

free_area_init prints the zone limits ('Zone ranges:'), each node's ZONE_MOVABLE start
('Movable zone start for each node'), memblock.memory by node ('Early memory node ranges')
and each node's span ('Initmem setup node N'); kernels up to 5.13 also print page counts
per node ('On node N totalpages') and zone ('DMA zone: N pages, LIFO batch', 'pages used for
memmap'). ``check`` on a boot log alone takes these as the layout seen, and ``plan --explain``
shows the same comparison. The zone spans per node are what the printed limits, starts and
ranges imply under the model's own zone rule (observer/model/zones.py node_zones).
"""
from __future__ import annotations

from typing import Callable

from observer.check.layout import CheckResult, Mismatch, as_the_kernel_boots, compare_zones, movable_rule
from observer.model import zones
from observer.model.boot import Prediction, predict
from observer.model.explain import model_node_ranges
from observer.model.inputs import PAGE_SHIFT, ModelInputs
from observer.model.memblock import Memblock, Region
from probes import bootlog_events as ev
from probes.bootlog import BootLog
from probes.records import replace
from probes.zoneinfo import Zone, ZoneInfo

#: A kernel line number (in the boot log read) -> how to cite it ('dmesg.txt line 78: ...').
Cite = Callable[[int], str]
#: The lines a comparison cannot do without, by the header the kernel prints before them.
REQUIRED = (("Zone ranges:", ev.ZoneRange), ("Early memory node ranges", ev.EarlyNodeRange))
STRUCT_PAGE = 64  # sizeof(struct page) on x86_64 (calc_memmap_size)


def missing_lines(log: BootLog) -> list[str]:
    """The needed zone lines the log lacks, by the kernel's header."""
    return [f"'{name}'" for name, cls in REQUIRED if not log.of(cls)]


def _pfns(a: tuple[int, int, int] | None) -> str:
    return "none" if a is None else f"node {a[0]} pfn {a[1]:#x}-{a[2]:#x}"


def _pfn(pfn: int | None) -> str:
    return "none" if pfn is None else f"pfn {pfn:#x}"


def _starts(starts: dict[int, int]) -> str:
    return ", ".join(f"node {n} pfn {p:#x}" for n, p in sorted(starts.items())) or "none"


def _mismatch(pred: Prediction, where: str, field: str, predicted: object, seen: object, rule: str,
              kernel_line: str) -> Mismatch:
    return Mismatch(where, field, predicted, seen, rule, pred.trace.rules.cite(rule), kernel_line)


def _node_ranges(pred: Prediction, log: BootLog, cite: Cite) -> list[Mismatch]:
    """'Early memory node ranges', line by line (for_each_mem_pfn_range)."""
    mine = model_node_ranges(pred)
    theirs = log.early_node_ranges
    out = []
    for k in range(max(len(mine), len(theirs))):
        a = mine[k] if k < len(mine) else None
        e = theirs[k] if k < len(theirs) else None
        b = (e.node, e.start >> PAGE_SHIFT, e.end >> PAGE_SHIFT) if e else None
        if a != b:
            node = (a or b)[0]  # type: ignore[index]
            out.append(_mismatch(pred, f"node {node}", f"memory range #{k}", _pfns(a), _pfns(b), "numa-set-node",
                                 cite(e.line) if e else "no such line under 'Early memory node ranges'"))
    return out


def _node_spans(pred: Prediction, log: BootLog, cite: Cite) -> list[Mismatch]:
    """'Initmem setup node N [mem ...]': each node's span (get_pfn_range_for_nid)."""
    spans: dict[int, tuple[int, int]] = {}
    for nid, s, end in model_node_ranges(pred):
        lo, hi = spans.get(nid, (s, end))
        spans[nid] = (min(lo, s), max(hi, end))
    out = []
    for e in log.of(ev.InitmemSetup):
        seen = (e.node, e.start >> PAGE_SHIFT, e.end >> PAGE_SHIFT)
        mine = spans.get(e.node)
        if mine is None or (e.node, *mine) != seen:
            out.append(_mismatch(pred, f"node {e.node}", "span", _pfns((e.node, *mine) if mine else None),
                                 _pfns(seen), "numa-set-node", cite(e.line)))
    return out


def _zone_limits(pred: Prediction, log: BootLog, cite: Cite) -> list[Mismatch]:
    """'Zone ranges:': arch_zone_lowest/highest_possible_pfn of every zone but Movable."""
    if pred.arch is None:
        return []
    out = []
    for e in log.zone_ranges:
        if e.zone not in zones.ZONES:
            continue
        i = zones.ZONES.index(e.zone)
        lo, hi = pred.arch.lowest[i], pred.arch.highest[i]
        mine = f"pfn {lo:#x}-{hi:#x}" if hi > lo else "empty"
        seen = "empty" if e.start is None else f"pfn {e.start >> PAGE_SHIFT:#x}-{e.end >> PAGE_SHIFT:#x}"  # type: ignore[operator]
        if mine != seen:
            out.append(_mismatch(pred, f"zone {e.zone}", "limits", mine, seen, "zone-limits", cite(e.line)))
    return out


def _movable_starts(pred: Prediction, log: BootLog, cite: Cite) -> list[Mismatch]:
    """'Movable zone start for each node': zone_movable_pfn per node (only nodes with one)."""
    kernel = {e.node: e for e in log.of(ev.MovableZoneStart)}
    out = []
    for nid in sorted(set(kernel) | set(pred.movable_start)):
        mine, e = pred.movable_start.get(nid), kernel.get(nid)
        seen = e.start >> PAGE_SHIFT if e else None
        if mine != seen:
            line = cite(e.line) if e else f"no 'Node {nid}:' line under 'Movable zone start for each node'"
            out.append(_mismatch(pred, f"node {nid} zone Movable", "start", _pfn(mine), _pfn(seen),
                                 movable_rule(pred), line))
    return out


def _printed_counts(log: BootLog) -> tuple[dict[int, ev.NodeTotalPages], dict[tuple[int, str, str], ev.ZonePages]]:
    """The page counts kernels up to 5.13 print: per node, and per (node, zone, what)."""
    return ({e.node: e for e in log.of(ev.NodeTotalPages)},
            {(e.node, e.zone, e.what): e for e in log.of(ev.ZonePages)})


def kernel_zones(pred: Prediction, log: BootLog) -> ZoneInfo:
    """The zones the kernel's lines imply: its limits clipped to each node's printed ranges and
    cut at its printed Movable starts (node_zones); a present count it printed replaces the
    computed one."""
    mb = Memblock(Region(e.start, e.end, e.node) for e in log.early_node_ranges)
    limits = {e.zone: e for e in log.zone_ranges}
    low, high = [0] * len(zones.ZONES), [0] * len(zones.ZONES)
    for i, name in enumerate(zones.ZONES):
        e = limits.get(name)
        if e is not None and e.start is not None and name != "Movable":
            low[i], high[i] = e.start >> PAGE_SHIFT, e.end >> PAGE_SHIFT  # type: ignore[operator]
    movable_zone = next((i for i in range(len(zones.ZONES) - 1, -1, -1)
                         if i != zones.MOVABLE and high[i] > low[i]), zones.NORMAL)
    az = zones.ArchZones(tuple(low), tuple(high), movable_zone)
    zmp = {e.node: e.start >> PAGE_SHIFT for e in log.of(ev.MovableZoneStart)}
    mirror = "kernelcore-mirror" in dict(pred.trace.fired())
    _, printed = _printed_counts(log)
    out = []
    for z in zones.node_zones(mb, az, zmp, mirror, mb.nids()):
        count = printed.get((z.node, z.zone, "present"))
        present = count.pages if count else z.present
        out.append(Zone(z.node, z.zone, z.start_pfn if z.spanned else None, z.spanned, present, None, None, ()))
    return ZoneInfo(tuple(out))


def _zone_lines(pred: Prediction, log: BootLog, cite: Cite) -> list[Mismatch]:
    """Per node and zone: start, spanned, present against what the kernel's lines imply."""
    limits = {e.zone: e.line for e in log.zone_ranges}
    movable = {e.node: e.line for e in log.of(ev.MovableZoneStart)}
    _, printed = _printed_counts(log)
    out = []
    mirror = "kernelcore-mirror" in dict(pred.trace.fired())
    for m in compare_zones(pred, kernel_zones(pred, log)):
        node, zone = int(m.where.split()[1]), m.where.split()[3]
        count = printed.get((node, zone, "present"))
        if m.field == "present" and count is not None:
            line = cite(count.line)
        elif m.field == "present" and mirror:
            continue  # the log does not say which ranges are mirrored
        elif zone == "Movable" and node in movable:
            line = cite(movable[node])
        else:
            line = cite(limits[zone]) if zone in limits else "no line for this zone under 'Zone ranges:'"
        out.append(replace(m, kernel_line=line))
    return out


def _page_counts(pred: Prediction, log: BootLog, cite: Cite) -> list[Mismatch]:
    """'On node N totalpages' (present pages of the node) and 'pages used for memmap'
    (calc_memmap_size: spanned, or present when holes exceed 1/16, times sizeof(struct page))."""
    totals, printed = _printed_counts(log)
    out = []
    for nid, total in sorted(totals.items()):
        mine = sum(z.present for z in pred.zones if z.node == nid)
        if mine != total.pages:
            out.append(_mismatch(pred, f"node {nid}", "totalpages", mine, total.pages, "zone-present",
                                 cite(total.line)))
    for z in pred.nonempty():
        e = printed.get((z.node, z.zone, "memmap"))
        pages = z.present if z.spanned > z.present + (z.present >> 4) else z.spanned
        mine = (pages * STRUCT_PAGE + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT
        if e is not None and mine != e.pages:
            out.append(_mismatch(pred, f"node {z.node} zone {z.zone}", "memmap pages", mine, e.pages,
                                 "zone-span", cite(e.line)))
    return out


def compare_log(pred: Prediction, log: BootLog, cite: Cite) -> list[Mismatch]:
    """Every difference between the boot-time prediction and the kernel's zone lines."""
    return (_node_ranges(pred, log, cite) + _node_spans(pred, log, cite) + _zone_limits(pred, log, cite)
            + _movable_starts(pred, log, cite) + _zone_lines(pred, log, cite) + _page_counts(pred, log, cite))


def boot_prediction(inputs: ModelInputs) -> tuple[Prediction, list[str]]:
    """The boot as the kernel printed it: no memory blocks (hot-add and run-time onlining come
    later), movablemem_map= ignored as the kernel did."""
    inputs, notes = as_the_kernel_boots(replace(inputs, blocks=()))
    return predict(inputs), notes


def check_log(inputs: ModelInputs, log: BootLog, cite: Cite) -> CheckResult:
    """``check`` on a boot log alone: the prediction against the kernel's own zone lines."""
    pred, notes = boot_prediction(inputs)
    notes.append("seen: the boot log's zone lines (no live layout in this input); memory blocks not compared")
    if not log.of(ev.InitmemSetup):
        notes.append("no 'Initmem setup node' lines: node spans compared through 'Early memory node ranges' only")
    return CheckResult(pred, compare_log(pred, log, cite), notes)


def explain_lines(pred: Prediction, log: BootLog) -> list[str]:
    """``plan --explain``'s closing part: the model's node ranges beside the kernel's, then the
    same differences ``check`` reports, the first one named."""
    lines = ["against the kernel's own zone lines:"]
    missing = missing_lines(log)
    if missing:
        return lines + [f"  the boot log has no {' or '.join(missing)} lines: nothing to compare"]
    mine = model_node_ranges(pred)
    theirs = [(e.node, e.start >> PAGE_SHIFT, e.end >> PAGE_SHIFT) for e in log.early_node_ranges]
    for k in range(max(len(mine), len(theirs))):
        a = mine[k] if k < len(mine) else None
        b = theirs[k] if k < len(theirs) else None
        lines.append(f"  node range model {_pfns(a):<40} kernel {_pfns(b)}" + ("" if a == b else "   <-- differs"))
    kernel = {e.node: e.start >> PAGE_SHIFT for e in log.of(ev.MovableZoneStart)}
    lines.append(f"  Movable start model {_starts(pred.movable_start)}; kernel {_starts(kernel)}")
    found = compare_log(pred, log, lambda n: f"line {n}")
    lines += [f"  {m.line()}" for m in found]
    lines.append(f"first divergence: {found[0].where} {found[0].field}" if found
                 else "no divergence from the kernel's zone lines")
    return lines
