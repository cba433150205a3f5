"""One table over many audits: host, kernel, nodes, which are removable, and why the others are not."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from probes.reading import ParseError


#: Which reason explains a node best: the firmware first, then what the kernel did at boot,
#: then the symptoms (a kernel zone, a pinned page).
ROOT_CAUSES = ("input-missing", "no-srat", "not-hotpluggable", "kernel-node", "memoryless-node",
               "hotadd-kernel-zone", "kernel-zone", "mixed-zones", "memory-hole", "kernel-image", "node-data",
               "cma", "reserved", "absent")


@dataclass(frozen=True)
class SummaryRow:
    source: str
    host: str
    kernel: str
    nodes: tuple[int, ...]
    removable: tuple[int, ...]
    unknown: tuple[int, ...]
    reasons: tuple[tuple[int, tuple[str, ...]], ...]  # per not-removable node: its blocker codes
    dimms: tuple[int, int] = (0, 0)  # (removable, total) hot-added DIMMs

    def reason_text(self, every: bool = False) -> str:
        """Each code once with the nodes it holds back: ``not-hotpluggable:0-1 kernel-node:2``;
        per node only its root cause (:data:`ROOT_CAUSES` order) unless ``every``."""
        by_code: dict[str, list[int]] = {}
        for node, codes in self.reasons:
            ranked = sorted(codes, key=lambda c: ROOT_CAUSES.index(c) if c in ROOT_CAUSES else len(ROOT_CAUSES))
            for c in ranked if every else ranked[:1]:
                by_code.setdefault(c, []).append(node)
        return " ".join(f"{c}:{_runs(nodes)}" for c, nodes in by_code.items()) or "-"


def _runs(nums: list[int]) -> str:
    out: list[list[int]] = []
    for n in sorted(set(nums)):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


def row_from_json(source: str, doc: Any) -> SummaryRow:
    """A row from ``movcheck audit --json`` output; ParseError when it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise ParseError("not movcheck audit JSON (no 'nodes' list)")
    nodes, removable, unknown, reasons = [], [], [], []
    for n in doc["nodes"]:
        if not isinstance(n, dict) or not isinstance(n.get("node"), int) or not isinstance(n.get("reasons"), list):
            raise ParseError("a 'nodes' entry lacks 'node' or 'reasons'")
        nodes.append(n["node"])
        if n.get("removable") is True:
            removable.append(n["node"])
        elif n.get("removable") is None:
            unknown.append(n["node"])
        codes = tuple(dict.fromkeys(str(r.get("code")) for r in n["reasons"]
                                    if isinstance(r, dict) and r.get("severity") != "warning"))
        if n.get("removable") is not True and codes:
            reasons.append((n["node"], codes))
    dimms = [r for r in doc.get("ranges") or [] if isinstance(r, dict) and r.get("kind") == "dimm"]
    return SummaryRow(source, str(doc.get("host") or "-"), str(doc.get("kernel") or "?"), tuple(nodes),
                      tuple(removable), tuple(unknown), tuple(reasons),
                      (sum(r.get("removable") is True for r in dimms), len(dimms)))


def _ids(ids: tuple[int, ...]) -> str:
    return _runs(list(ids)) or "-"


def render_summary(rows: list[SummaryRow], width: int = 80, every: bool = False) -> str:
    """The table; the reasons (code:nodes) wrap under their column."""
    host_w = max([4] + [len(r.host) for r in rows])
    kern_w = max([6] + [len(r.kernel) for r in rows])
    head = f"{'HOST':<{host_w}} {'KERNEL':<{kern_w}} {'NODES':>5} {'REMOVABLE':<9} {'DIMMS':>5} "
    indent = len(head)
    lines = [head + ("REASONS (code:nodes)" if every else "ROOT CAUSE (code:nodes)")]
    for r in rows:
        removable = _ids(r.removable) + (f" ?{_ids(r.unknown)}" if r.unknown else "")
        dimms = f"{r.dimms[0]}/{r.dimms[1]}" if r.dimms[1] else "-"
        prefix = f"{r.host:<{host_w}} {r.kernel:<{kern_w}} {len(r.nodes):>5} {removable:<9} {dimms:>5} "
        wrapped = textwrap.wrap(r.reason_text(every), max(width - indent, 24), break_on_hyphens=False,
                                break_long_words=False) or ["-"]
        lines.append(prefix + wrapped[0])
        lines += [" " * indent + w for w in wrapped[1:]]
    return "\n".join(lines)
