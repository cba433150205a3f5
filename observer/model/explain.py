"""``plan --explain``: the boot replayed step by step, then held against the kernel's own zone lines."""
from __future__ import annotations

from observer.model.boot import Prediction
from observer.model.inputs import PAGE_SHIFT
from observer.model.memblock import Region


def _regions(regions: tuple[Region, ...]) -> list[str]:
    out = []
    for r in regions:
        node = f"node {r.nid}" if r.nid >= 0 else "no node"
        flags = ",".join(f for f, on in (("HOTPLUG", r.hotplug), ("MIRROR", r.mirror)) if on) or "-"
        out.append(f"      [mem {r.start:#014x}-{r.end - 1:#014x}] {node:<8} {flags}")
    return out


MAX_LOG_LINES = 12

Spans = dict[tuple[int, str], tuple[int, int]]  # (node, zone) -> (start_pfn, end_pfn)


def kernel_spans(zone_ranges: list[tuple[str, int, int]], early: list[tuple[int, int, int]],
                 movable: dict[int, int]) -> Spans:
    """The zone spans per node the kernel's own lines state (bytes in, pfns out): each 'Zone
    ranges' range (zone, start, end) clipped to the node's early ranges (node, start, end),
    cut at the node's 'Movable zone start' (adjust_zone_range_for_zone_movable); Movable runs
    from that start to the node's end."""
    hull: dict[int, tuple[int, int]] = {}
    for node, start, end in early:
        s, e = start >> PAGE_SHIFT, end >> PAGE_SHIFT
        lo, hi = hull.get(node, (s, e))
        hull[node] = (min(lo, s), max(hi, e))
    out: Spans = {}
    for node, (ns, ne) in sorted(hull.items()):
        zmp = movable[node] >> PAGE_SHIFT if node in movable else None
        for zone, start, end in zone_ranges:
            s, e = max(ns, start >> PAGE_SHIFT), min(ne, end >> PAGE_SHIFT)
            if zmp is not None:
                e = min(e, zmp)
            if s < e:
                out[(node, zone)] = (s, e)
        if zmp is not None and zmp < ne:
            out[(node, "Movable")] = (zmp, ne)
    return out


def predicted_spans(pred: Prediction) -> Spans:
    """The model's (node, zone) -> (start_pfn, end_pfn) for every zone that spans pages."""
    return {(z.node, z.zone): (z.start_pfn, z.start_pfn + z.spanned) for z in pred.zones if z.spanned}


def compare_zones(pred: Prediction, kernel: Spans, pages: dict[tuple[int, str], int]) -> tuple[list[str], str | None]:
    """Lines holding the model's zone spans and present pages against the kernel's (``pages``:
    (node, zone) -> present pages the kernel printed, zone '' for a node total); the first
    difference, None when none."""
    mine = predicted_spans(pred)
    present = {(z.node, z.zone): z.present for z in pred.zones}
    lines, first = [], None
    for key in sorted(set(mine) | set(kernel)):
        a, b = mine.get(key), kernel.get(key)
        lines.append(f"  node {key[0]} {key[1]:<8} model {_span(a):<28} kernel {_span(b)}"
                     + ("" if a == b else "   <-- differs"))
        if a != b and first is None:
            first = f"node {key[0]} {key[1]} span: model {_span(a)}, kernel {_span(b)}"
    for (node, zone), n in sorted(pages.items()):
        got = (sum(p for (m, _), p in present.items() if m == node) if not zone
               else present.get((node, zone), 0))
        what = f"node {node} {zone or 'total'} present pages"
        lines.append(f"  {what}: model {got}, kernel {n}" + ("" if got == n else "   <-- differs"))
        if got != n and first is None:
            first = f"{what}: model {got}, kernel {n}"
    return lines, first


def _span(s: tuple[int, int] | None) -> str:
    return "-" if s is None else f"pfn {s[0]:#x}-{s[1]:#x}"


def explain(pred: Prediction, log_early: list[tuple[int, int, int]] | None,
            log_movable: dict[int, int] | None, log_by_rule: dict[str, list[str]] | None = None,
            log_zones: tuple[Spans, dict[tuple[int, str], int]] | None = None) -> list[str]:
    """Lines: every step with its citation, the boot-log events of that phase (``log_by_rule``:
    rule id -> event texts in log order) and the state when it changed; then the comparison
    with the boot log's 'Early memory node ranges' (``log_early``: node, start, end bytes),
    'Movable zone start' (``log_movable``: node -> byte address) and its zone spans and page
    counts (``log_zones``: :func:`kernel_spans`, pages as :func:`compare_zones` takes them),
    marking the first divergence."""
    lines: list[str] = []
    pending = dict(log_by_rule or {})
    last_regions: tuple[Region, ...] | None = None
    last_zmp: tuple[tuple[int, int], ...] = ()
    for i, s in enumerate(pred.trace.steps, 1):
        lines.append(f"{i:>2}. {s.rule}: {s.detail}")
        lines.append(f"      ({s.citation})")
        events = pending.pop(s.rule, [])
        lines += [f"    log: {e}" for e in events[:MAX_LOG_LINES]]
        if len(events) > MAX_LOG_LINES:
            lines.append(f"    log: ... {len(events) - MAX_LOG_LINES} more")
        if s.regions and s.regions != last_regions:
            lines.append("    memblock.memory:")
            lines += _regions(s.regions)
            last_regions = s.regions
        if s.movable_start != last_zmp:
            lines.append("    Movable start: " + (", ".join(f"node {n} pfn {p:#x}" for n, p in s.movable_start)
                                                 or "none"))
            last_zmp = s.movable_start
    lines.append("against the kernel's own zone lines:")
    first = None
    if log_early is None:
        lines.append("  boot log has no 'Early memory node ranges' lines: nothing to compare")
    else:
        final = pred.trace.steps[-1].regions if pred.trace.steps else ()
        mine = _merged_pfn_ranges(final)
        theirs = [(n, s >> PAGE_SHIFT, (e >> PAGE_SHIFT)) for n, s, e in log_early]
        for k in range(max(len(mine), len(theirs))):
            a = mine[k] if k < len(mine) else None
            b = theirs[k] if k < len(theirs) else None
            mark = "" if a == b else "   <-- differs"
            if a != b and first is None:
                first = f"early node range #{k}: model {_fmt(a)}, kernel {_fmt(b)}"
            lines.append(f"  node range model {_fmt(a):<40} kernel {_fmt(b)}{mark}")
    if log_movable is not None:
        kernel = {n: a >> PAGE_SHIFT for n, a in log_movable.items()}
        same = kernel == pred.movable_start
        lines.append("  Movable start model " + (", ".join(f"node {n} pfn {p:#x}"
                                                          for n, p in sorted(pred.movable_start.items())) or "none")
                     + "; kernel " + (", ".join(f"node {n} pfn {p:#x}" for n, p in sorted(kernel.items())) or "none")
                     + ("" if same else "   <-- differs"))
        if not same and first is None:
            first = "Movable zone start"
    if log_zones is not None:
        zone_lines, zone_first = compare_zones(pred, *log_zones)
        lines += zone_lines
        first = first or zone_first
    lines.append(f"first divergence: {first}" if first else "no divergence from the kernel's zone lines")
    return lines


def _merged_pfn_ranges(regions: tuple[Region, ...]) -> list[tuple[int, int, int]]:
    """for_each_mem_pfn_range as free_area_init prints it: one line per non-empty region."""
    return [(r.nid, r.start_pfn, r.end_pfn) for r in regions if r.end_pfn > r.start_pfn]


def _fmt(r: tuple[int, int, int] | None) -> str:
    return "-" if r is None else f"node {r[0]} pfn {r[1]:#x}-{r[2]:#x}"
