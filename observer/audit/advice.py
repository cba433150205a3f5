"""Advice: the smallest command-line change that makes the wanted memory removable.

Candidates go from the smallest edit to the largest (one flag, a flag pair, a
sized kernelcore=/movablecore=); each is checked by running the model's
prediction with the edited command line, and the first one that puts every
wanted page in ZONE_MOVABLE is shown with the zone changes it causes (a plan
diff). A change the model cannot confirm is never offered as a fix.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from observer.audit.verdicts import Audit
from observer.audit.inputs import KERNEL_ZONES, PAGE_SHIFT, AuditFacts, ZoneSpan
from observer.render.output import fmt_range, fmt_size

#: Predicts the zones a command line would give: (cmdline) -> zones, or raises ValueError.
Predictor = Callable[[str], Sequence[ZoneSpan]]
Target = tuple[str, int, int]

_MIB = 1 << 20


def _wanted(facts: AuditFacts, a: Audit, targets: list[Target]) -> list[Target]:
    """The targets to fix: the given ones, else every hot-pluggable node and DIMM that is not removable."""
    if targets:
        return targets
    out = [("range", r.start, r.end) for r in a.ranges if r.kind == "dimm" and r.removable is False]
    for n in a.nodes:
        fw = [r for r in facts.firmware or () if r.node == n.node]
        if n.present_pages and n.removable is False and fw and all(r.hotpluggable for r in fw):
            out.append(("node", n.node, 0))
    return out


def _satisfied(zones: Sequence[ZoneSpan], target: Target, facts: AuditFacts) -> bool:
    """True when every present page of the target is in Movable in ``zones``."""
    kind, x, y = target
    if kind == "node":
        mine = [z for z in zones if z.node == x]
        return sum(z.present for z in mine if z.name == "Movable") > 0 and \
            not any(z.present for z in mine if z.name in KERNEL_ZONES)
    node = facts.node_of(x, y)
    hit = [z for z in zones if (node is None or z.node == node) and z.present and z.intersects(x, y)]
    return bool(hit) and all(z.name == "Movable" for z in hit)


def _cma_notes(facts: AuditFacts, targets: list[Target]) -> list[tuple[str, str]]:
    """(target, note) for each CMA area inside a target: no zone change frees it (reason ``cma``),
    only reserving the area elsewhere does."""
    out = []
    for r in facts.reservations:
        if r.kind != "cma":
            continue
        for kind, x, y in targets:
            if facts.node_of(r.start, r.end) == x if kind == "node" else r.start < y and x < r.end:
                where = f"node {x}" if kind == "node" else fmt_range(x, y)
                out.append((where, f"{where} holds a CMA area {r.start:#x}-{r.end - 1:#x}, which blocks offlining "
                                   "in any zone: reserve it elsewhere (cma=SIZE@START with START outside "
                                   f"{where}, or without hugetlb_cma=)"))
                break
    return out


def _candidates(facts: AuditFacts, a: Audit, wanted: list[Target]) -> list[tuple[str, list[str], list[str]]]:
    """(why, tokens to add, option names to drop), smallest edit first."""
    out: list[tuple[str, list[str], list[str]]] = []
    words = (facts.cmdline or "").split()
    if any(k == "range" and any(s <= x and y <= e for s, e in facts.hotadded) for k, x, y in wanted):
        out.append(("online hot-added memory to Movable", ["memhp_default_state=online_movable"],
                    ["memhp_default_state"]))
    if "movable_node" not in words:
        out.append(("hot-pluggable nodes become Movable", ["movable_node"], []))
    if (facts.kernel_nodes and "nokaslr" not in words
            and any(r.kind == "kernel-image" for r in facts.reservations)):
        extra = [] if "movable_node" in words else ["movable_node"]
        out.append(("keep the kernel image out of hot-pluggable nodes", ["nokaslr", *extra], []))
    # Sized options: movable memory equal to what the wanted nodes/ranges hold, in MiB.
    need = 0
    for kind, x, y in wanted:
        if kind == "node":
            n = next((n for n in a.nodes if n.node == x), None)
            need += (n.present_pages << PAGE_SHIFT) if n else 0
        else:
            need += y - x
    total = sum(n.present_pages for n in a.nodes) << PAGE_SHIFT
    if need and total > need:
        mib = -(-need // _MIB)
        out.append(("size ZONE_MOVABLE to the wanted memory", [f"movablecore={mib}M"],
                    ["movable_node", "kernelcore", "movablecore"]))
        out.append(("size the kernel zones to the rest", [f"kernelcore={(total - need) // _MIB}M"],
                    ["movable_node", "kernelcore", "movablecore"]))
    return out


def _edit(cmdline: str, add: list[str], drop: list[str]) -> str:
    words = [w for w in cmdline.split() if w.split("=", 1)[0].replace("-", "_") not in drop]
    return " ".join(words + [t for t in add if t not in words])


def plan_diff(before: Sequence[ZoneSpan], after: Sequence[ZoneSpan]) -> list[str]:
    """One line per node/zone whose present pages or start change: ``node 1 Normal 2G -> 0B``."""
    key = lambda z: (z.node, z.name)  # noqa: E731
    old = {key(z): z for z in before}
    new = {key(z): z for z in after}
    lines = []
    for k in sorted(set(old) | set(new)):
        o, n = old.get(k), new.get(k)
        op, np_ = (o.present if o else 0), (n.present if n else 0)
        if op == np_ and (o.start_pfn if o else None) == (n.start_pfn if n else None):
            continue
        span = lambda z: "-" if z is None or z.start_pfn is None else f"{z.start:#x}-{z.end - 1:#x}"  # noqa: E731
        lines.append(f"node {k[0]} {k[1]:<7} {fmt_size(op << PAGE_SHIFT):>6} -> {fmt_size(np_ << PAGE_SHIFT):>6}"
                     f"  {span(o)} -> {span(n)}")
    return lines


def advise(facts: AuditFacts, a: Audit, targets: list[Target], predictor: Predictor | None) -> list[dict[str, Any]]:
    """The first candidate line the model confirms, as ``{summary, cmdline, add, diff, targets}``;
    a note instead when no predictor is available or no candidate works."""
    wanted = _wanted(facts, a, targets)
    cma = _cma_notes(facts, wanted)
    wanted = [t for t in wanted if not _satisfied(facts.zones or (), t, facts)]
    if not wanted or facts.cmdline is None:
        return [{"summary": note, "cmdline": None, "add": [], "diff": [], "targets": [where], "checked": False}
                for where, note in cma]
    names = [f"node {x}" if k == "node" else fmt_range(x, y) for k, x, y in wanted]
    if predictor is None:
        return [{"summary": f"no advice for {', '.join(names)}: the model is not available",
                 "cmdline": None, "add": [], "diff": [], "targets": names, "checked": False}]
    try:
        baseline = list(predictor(facts.cmdline))
    except ValueError as exc:
        return [{"summary": f"no advice: the model cannot predict this machine ({exc})",
                 "cmdline": None, "add": [], "diff": [], "targets": names, "checked": False}]
    for why, add, drop in _candidates(facts, a, wanted):
        line = _edit(facts.cmdline, add, drop)
        try:
            zones = list(predictor(line))
        except ValueError:
            continue
        if all(_satisfied(zones, t, facts) for t in wanted):
            still = "".join(f"; still not removable: {note}" for _, note in cma)
            return [{"summary": f"add {' '.join(add)} ({why}); the model predicts {', '.join(names)} "
                                f"all in ZONE_MOVABLE{still}", "cmdline": line, "add": add,
                     "diff": plan_diff(baseline, zones), "targets": names, "checked": True}]
    return [{"summary": f"no command-line change the model confirms makes {', '.join(names)} removable",
             "cmdline": None, "add": [], "diff": [], "targets": names, "checked": True}]
