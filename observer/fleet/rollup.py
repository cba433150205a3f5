"""The fleet roll-up of ``movcheck summary``: machines ready / not ready / unknown, root causes by
the machines they block, the same split by kernel, firmware and memory options, groups of
identical layouts, the machines that differ from the rest of their group, and the bad inputs.

Rows are added one at a time and only counters are kept (plus the bad inputs, and the rows
themselves when the per-host table is asked for), so memory does not grow with the number of
machines. Nothing depends on the order rows arrive in: examples are the smallest host name,
ties are broken by name. :meth:`Rollup.to_json` is the ``--json`` document (README: "movcheck
summary --json").
"""
from __future__ import annotations

import bisect
from collections import Counter
from typing import Any

from observer.fleet.judge import Bad, Judged
from observer.fleet.machine import NOT_READY, READY, UNKNOWN, SummaryRow

#: Version of the ``--json`` document; bumped when a key changes meaning or goes away.
FORMAT = 1
#: The splits of the fleet: JSON key -> the row's attribute.
SPLITS = {"by_kernel": "kernel", "by_firmware": "firmware", "by_options": "options"}
#: Example hosts kept per layout that differs from its group.
EXAMPLES = 3


class _Tally:
    """Machines by status and by blocking root cause."""

    def __init__(self) -> None:
        self.status: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()

    def add(self, row: SummaryRow) -> None:
        status = row.status
        self.status[status] += 1
        if status == NOT_READY:
            self.causes.update(row.blockers)

    def to_json(self) -> dict[str, Any]:
        return {"machines": sum(self.status.values()), "ready": self.status[READY],
                "not_ready": self.status[NOT_READY], "unknown": self.status[UNKNOWN],
                "root_causes": dict(_ranked(self.causes))}


class _Examples:
    """How many rows share a key, and the first few (host, source) in name order."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[tuple[str, str]] = []

    def add(self, row: SummaryRow) -> None:
        self.count += 1
        bisect.insort(self.first, (row.host, row.source))
        del self.first[EXAMPLES:]


class Rollup:
    """The counters of one ``movcheck summary`` run. ``require``: node numbers every machine must
    be able to remove; ``hosts``: keep every row for the per-host table."""

    def __init__(self, require: tuple[int, ...] = (), hosts: bool = False) -> None:
        self.inputs = 0
        self.all = _Tally()
        self.unknown: dict[str, _Examples] = {}
        self.splits: dict[str, dict[str, _Tally]] = {key: {} for key in SPLITS}
        self.layouts: dict[str, _Examples] = {}
        self.groups: dict[tuple[str, str, str], dict[str, _Examples]] = {}
        self.require = require
        self.required: Counter[str] = Counter()
        self.bad: list[Bad] = []
        self.rows: list[SummaryRow] | None = [] if hosts else None

    def add(self, item: Judged) -> None:
        """Count one judged input."""
        self.inputs += 1
        if isinstance(item, Bad):
            self.bad.append(item)
            return
        self.all.add(item)
        for key, attr in SPLITS.items():
            self.splits[key].setdefault(getattr(item, attr), _Tally()).add(item)
        if item.status == UNKNOWN:
            self.unknown.setdefault(item.unknown_why, _Examples()).add(item)
        if not item.why:  # a machine audited: its layout is known
            self.layouts.setdefault(item.layout, _Examples()).add(item)
            group = self.groups.setdefault((item.kernel, item.firmware, item.options), {})
            group.setdefault(item.layout, _Examples()).add(item)
        if self.require:
            self.required[self._requirement(item)] += 1
        if self.rows is not None:
            self.rows.append(item)

    def _requirement(self, row: SummaryRow) -> str:
        if any(n not in row.nodes for n in self.require) and not row.why:
            return "not_met"
        if row.why or any(n in row.unknown for n in self.require):
            return "cannot_tell"
        return "met" if all(n in row.removable for n in self.require) else "not_met"

    def exit_status(self) -> int:
        """4 when an input met a bug; 1 when a machine is not ready (or misses ``require``); else 2
        for a malformed or foreign input, 3 for a missing or denied one or a machine that could not
        be judged; 0 when every machine is ready."""
        codes = {b.code for b in self.bad}
        if 4 in codes:
            return 4
        if self.required["not_met"] if self.require else self.all.status[NOT_READY]:
            return 1
        if codes:
            return min(codes)
        unknown = self.required["cannot_tell"] if self.require else self.all.status[UNKNOWN]
        return 3 if unknown else 0

    def to_json(self) -> dict[str, Any]:
        """The roll-up as one JSON document (keys documented in the README)."""
        doc: dict[str, Any] = {
            "format": FORMAT,
            "inputs": self.inputs,
            "bad_inputs": len(self.bad),
            "machines": {"total": sum(self.all.status.values()), "ready": self.all.status[READY],
                         "not_ready": self.all.status[NOT_READY], "unknown": self.all.status[UNKNOWN]},
            "unknown": [{"why": why, "machines": ex.count, "example": ex.first[0][0]}
                        for why, ex in _by_count(self.unknown)],
            "root_causes": [{"code": code, "machines": n} for code, n in _ranked(self.all.causes)],
        }
        for key, tallies in self.splits.items():
            doc[key] = [{"value": value, **tally.to_json()}
                        for value, tally in sorted(tallies.items(), key=lambda kv: (-sum(kv[1].status.values()), kv[0]))]
        doc["layouts"] = [{"layout": layout, "machines": ex.count, "example": ex.first[0][0]}
                          for layout, ex in _by_count(self.layouts)]
        doc["differ"], doc["mixed_groups"] = self._differ()
        if self.require:
            doc["require"] = {"nodes": list(self.require), "met": self.required["met"],
                              "not_met": self.required["not_met"], "cannot_tell": self.required["cannot_tell"]}
        doc["bad"] = [{"input": b.source, "reason": b.reason} for b in sorted(self.bad)]
        if self.rows is not None:
            doc["hosts"] = [host_json(r) for r in sorted(self.rows, key=lambda r: (r.source, r.host))]
        return doc

    def _differ(self) -> tuple[list[dict[str, Any]], int]:
        """The groups of machines with the same kernel, firmware and memory options where one layout
        holds more than half of the machines: that usual layout, and the others (the machines that
        differ) with a few example hosts, most differing machines first; and how many groups of more
        than one layout have no such majority."""
        out, mixed = [], 0
        for (kernel, firmware, options), layouts in self.groups.items():
            if len(layouts) < 2:
                continue
            ranked = _by_count(layouts)
            total = sum(ex.count for ex in layouts.values())
            usual, usual_ex = ranked[0]
            if usual_ex.count * 2 <= total:
                mixed += 1
                continue
            out.append({"kernel": kernel, "firmware": firmware, "options": options, "machines": total,
                        "differ": total - usual_ex.count, "usual": usual, "usual_machines": usual_ex.count,
                        "others": [{"layout": layout, "machines": ex.count, "examples": [h for h, _ in ex.first]}
                                   for layout, ex in ranked[1:]]})
        out.sort(key=lambda g: (-g["differ"], g["kernel"], g["firmware"], g["options"]))  # type: ignore[operator]
        return out, mixed


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _by_count(table: dict[str, _Examples]) -> list[tuple[str, _Examples]]:
    return sorted(table.items(), key=lambda kv: (-kv[1].count, kv[0]))


def host_json(r: SummaryRow) -> dict[str, Any]:
    """One machine of ``--hosts --json``."""
    return {"input": r.source, "host": r.host, "status": r.status, "kernel": r.kernel, "firmware": r.firmware,
            "options": r.options, "nodes": list(r.nodes), "removable": list(r.removable), "ready": list(r.ready),
            "undetermined": list(r.unknown), "dimms": {"removable": r.dimms[0], "total": r.dimms[1]},
            "root_causes": list(r.blockers) if r.status == NOT_READY else [], "reasons": r.reason_text(),
            "layout": r.layout, "why": r.unknown_why if r.status == UNKNOWN else None}
