"""The predicted layout for a machine or snapshot, as data and text."""
from __future__ import annotations

from typing import Any

from observer.model.boot import Prediction
from probes.zoneinfo import ZoneInfo


def plan_json(pred: Prediction, cmdline: str | None, missing: tuple[str, ...]) -> dict[str, Any]:
    """The JSON form: zones, movable_start, rules fired with citations, assumptions."""
    return {
        "kernel": pred.release,
        "cmdline": cmdline,
        "zones": [{"node": z.node, "zone": z.zone, "start_pfn": z.start_pfn, "spanned": z.spanned,
                   "present": z.present} for z in pred.nonempty()],
        "movable_start": {str(n): p for n, p in sorted(pred.movable_start.items())},
        "kernel_nodes": sorted(pred.kernel_nodes),
        "blocks": [{"block": b.number, "node": b.node, "online": b.online, "boot": b.boot,
                    "zone": b.zone, "valid_zones": b.valid_zones} for b in pred.blocks],
        "rules": [{"rule": r, "source": c} for r, c in pred.trace.fired()],
        "assumptions": list(pred.assumptions),
        "missing": list(missing),
        "verified_rules": pred.trace.rules.verified,
    }


def plan_lines(pred: Prediction, today: ZoneInfo | None) -> list[str]:
    """The human form: predicted zones, and what differs from today's layout when readable."""
    lines = [f"predicted zone layout (kernel {pred.release or 'unknown'}):",
             f"  {'node':>4} {'zone':<8} {'start_pfn':>12} {'spanned':>10} {'present':>10}  today"]
    seen = {(z.node, z.name): z for z in today.zones} if today else {}
    shown = set()
    for z in pred.nonempty():
        shown.add((z.node, z.zone))
        s = seen.get((z.node, z.zone))
        if today is None:
            diff = "(unknown)"
        elif s is None:
            diff = "absent today"
        elif (s.spanned, s.present) == (z.spanned, z.present) and s.start_pfn in (None, z.start_pfn):
            diff = "same"
        else:
            diff = f"today start {s.start_pfn if s.start_pfn is not None else '-'} spanned {s.spanned} present {s.present}"
        lines.append(f"  {z.node:>4} {z.zone:<8} {z.start_pfn:>#12x} {z.spanned:>10} {z.present:>10}  {diff}")
    for key, s in sorted(seen.items()):
        if key not in shown and (s.spanned or s.present):
            lines.append(f"  {s.node:>4} {s.name:<8} {'-':>12} {0:>10} {0:>10}  today spanned {s.spanned} "
                         f"present {s.present}")
    if pred.movable_start:
        lines.append("Movable zone start: " + ", ".join(f"node {n} pfn {p:#x}"
                                                        for n, p in sorted(pred.movable_start.items())))
    else:
        lines.append("Movable zone start: none")
    lines.append("rules fired:")
    lines += [f"  {r:<20} {c}" for r, c in pred.trace.fired()]
    if pred.assumptions:
        lines.append("assumed:")
        lines += [f"  - {a}" for a in pred.assumptions]
    return lines

