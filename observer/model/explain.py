"""``plan --explain``: the boot replayed step by step (observer/check/bootlog.py then holds it against
the kernel's own zone lines)."""
from __future__ import annotations

from observer.model.boot import Prediction
from observer.model.memblock import Region


def _regions(regions: tuple[Region, ...]) -> list[str]:
    out = []
    for r in regions:
        node = f"node {r.nid}" if r.nid >= 0 else "no node"
        flags = ",".join(f for f, on in (("HOTPLUG", r.hotplug), ("MIRROR", r.mirror)) if on) or "-"
        out.append(f"      [mem {r.start:#014x}-{r.end - 1:#014x}] {node:<8} {flags}")
    return out


MAX_LOG_LINES = 12


def explain(pred: Prediction, log_by_rule: dict[str, list[str]] | None = None) -> list[str]:
    """Lines: every step with its citation, the boot-log events of that phase (``log_by_rule``:
    rule id -> event texts in log order) and the state when it changed. The comparison with
    the kernel's own zone lines follows (observer/check/bootlog.py explain_lines)."""
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
    return lines


def model_node_ranges(pred: Prediction) -> list[tuple[int, int, int]]:
    """memblock.memory by node at the end of the replay, as free_area_init prints it under
    'Early memory node ranges' (for_each_mem_pfn_range: one line per non-empty region)."""
    final = pred.trace.steps[-1].regions if pred.trace.steps else ()
    return [(r.nid, r.start_pfn, r.end_pfn) for r in final if r.end_pfn > r.start_pfn]
