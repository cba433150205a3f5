"""One table over many audits: host, kernel, nodes, which are removable, and why the others are not."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from probes.reading import ParseError


@dataclass(frozen=True)
class SummaryRow:
    source: str
    host: str
    kernel: str
    nodes: tuple[int, ...]
    removable: tuple[int, ...]
    unknown: tuple[int, ...]
    reasons: tuple[tuple[int, tuple[str, ...]], ...]  # per not-removable node: its blocker codes


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
    return SummaryRow(source, str(doc.get("host") or "-"), str(doc.get("kernel") or "?"), tuple(nodes),
                      tuple(removable), tuple(unknown), tuple(reasons))


def _ids(ids: tuple[int, ...]) -> str:
    return ",".join(map(str, ids)) or "-"


def render_summary(rows: list[SummaryRow], width: int = 80) -> str:
    """The table; long reason lists wrap under the REASONS column."""
    host_w = max([4] + [len(r.host) for r in rows])
    kern_w = max([6] + [len(r.kernel) for r in rows])
    head = f"{'HOST':<{host_w}} {'KERNEL':<{kern_w}} {'NODES':<5} {'REMOVABLE':<9} "
    indent = len(head)
    lines = [head + "REASONS"]
    for r in rows:
        removable = _ids(r.removable) + (f" ?{_ids(r.unknown)}" if r.unknown else "")
        text = "; ".join(f"node {n}: {', '.join(codes)}" for n, codes in r.reasons) or "-"
        prefix = f"{r.host:<{host_w}} {r.kernel:<{kern_w}} {len(r.nodes):<5} {removable:<9} "
        wrapped = textwrap.wrap(text, max(width - indent, 20), break_on_hyphens=False, break_long_words=False) or ["-"]
        lines.append(prefix + wrapped[0])
        lines += [" " * indent + w for w in wrapped[1:]]
    return "\n".join(lines)
