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


def explain(pred: Prediction, log_early: list[tuple[int, int, int]] | None,
            log_movable: dict[int, int] | None, log_by_rule: dict[str, list[str]] | None = None) -> list[str]:
    """Lines: every step with its citation, the boot-log events of that phase (``log_by_rule``:
    rule id -> event texts in log order) and the state when it changed; then the comparison
    with the boot log's 'Early memory node ranges' (``log_early``: node, start, end bytes) and
    'Movable zone start' (``log_movable``: node -> byte address), marking the first divergence."""
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
    lines.append(f"first divergence: {first}" if first else "no divergence from the kernel's zone lines")
    return lines


def _merged_pfn_ranges(regions: tuple[Region, ...]) -> list[tuple[int, int, int]]:
    """for_each_mem_pfn_range as free_area_init prints it: one line per non-empty region."""
    return [(r.nid, r.start_pfn, r.end_pfn) for r in regions if r.end_pfn > r.start_pfn]


def _fmt(r: tuple[int, int, int] | None) -> str:
    return "-" if r is None else f"node {r[0]} pfn {r[1]:#x}-{r[2]:#x}"
