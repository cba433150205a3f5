"""The fleet roll-up (observer/fleet/rollup.py ``Rollup.to_json``) as text for a person and as CSV for a
spreadsheet; both are drawn from the JSON document alone, so ``--json`` output renders the same."""
from __future__ import annotations

import csv
import io
from typing import Any

#: The split sections: JSON key -> heading.
SPLIT_HEADINGS = {"by_kernel": "KERNEL", "by_firmware": "FIRMWARE", "by_options": "MEMORY OPTIONS"}
#: Entries of each list the text shows (the JSON and CSV have every one).
TOP = 15
#: Layouts shown per group besides its usual one.
OTHERS = 3
HOST_COLUMNS = ("input", "host", "status", "kernel", "firmware", "options", "nodes", "removable", "ready",
                "undetermined", "dimms", "root_causes", "reasons", "layout", "why")


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]], right: tuple[int, ...], indent: str = "  ") -> list[str]:
    """Columns padded to their widest cell; the last column is left ragged."""
    cells = [tuple(str(c) for c in head)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    out = []
    for r in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        parts[-1] = r[-1] if len(head) - 1 not in right else parts[-1]
        out.append(indent + "  ".join(parts).rstrip())
    return out


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}" if total else "-"


def _causes(causes: dict[str, int]) -> str:
    return ", ".join(f"{code} {n}" for code, n in causes.items()) or "-"


def _more(shown: int, total: int) -> list[str]:
    return [f"  ... {total - shown} more (--json or --csv lists every one)"] if total > shown else []


def render_text(doc: dict[str, Any], top: int = TOP) -> str:
    """The roll-up for a person: verdicts, root causes, splits, layouts, odd ones out, bad inputs;
    each list cut at its ``top`` largest entries."""
    m = doc["machines"]
    total = m["total"]
    bad = doc["bad_inputs"]
    lines = [f"{doc['inputs']} inputs: {total} machines, {bad} bad input{'' if bad == 1 else 's'}"
             + (" (listed at the end)" if bad else ""), ""]
    lines += _table(("MACHINES", "COUNT", "%"), [(label, m[key], _pct(m[key], total)) for key, label in
                                                 (("ready", "ready"), ("not_ready", "not ready"), ("unknown", "unknown"))],
                    (1, 2))
    lines += [f"    unknown {u['machines']}: {u['why']}; e.g. {u['example']}" for u in doc["unknown"]]
    if doc["root_causes"]:
        lines += ["", "ROOT CAUSES of the not-ready machines (a machine counts once per cause)"]
        lines += _table(("MACHINES", "CAUSE"), [(c["machines"], c["code"]) for c in doc["root_causes"]], (0,))
    for key, heading in SPLIT_HEADINGS.items():
        lines += ["", f"BY {heading} ({len(doc[key])})"]
        lines += _table(("MACHINES", "READY", "NOT READY", "UNKNOWN", f"{heading.lower()}: root causes"),
                        [(s["machines"], s["ready"], s["not_ready"], s["unknown"],
                          f"{s['value']}" + (f": {_causes(s['root_causes'])}" if s["root_causes"] else ""))
                         for s in doc[key][:top]], (0, 1, 2, 3))
        lines += _more(top, len(doc[key]))
    lines += ["", f"LAYOUTS: {len(doc['layouts'])} groups of identical layouts "
                  "(per node: number:size:zones:verdict; README 'Layout key')"]
    lines += _table(("MACHINES", "EXAMPLE", "LAYOUT"), [(g["machines"], g["example"], g["layout"])
                                                        for g in doc["layouts"][:top]], (0,))
    lines += _more(top, len(doc["layouts"]))
    if doc["differ"] or doc["mixed_groups"]:
        lines += ["", f"DIFFER FROM THEIR GROUP (same kernel, firmware and memory options; "
                      f"{sum(g['differ'] for g in doc['differ'])} machines in {len(doc['differ'])} groups)"]
        for g in doc["differ"][:top]:
            lines.append(f"  {g['kernel']} | {g['firmware']} | {g['options']}: {g['machines']} machines, "
                         f"{g['usual_machines']} as {g['usual']}")
            lines += [f"    {o['machines']} as {o['layout']}: {', '.join(o['examples'])}"
                      + (" ..." if o["machines"] > len(o["examples"]) else "") for o in g["others"][:OTHERS]]
            if len(g["others"]) > OTHERS:
                lines.append(f"    ... {len(g['others']) - OTHERS} more layouts")
        lines += _more(top, len(doc["differ"]))
        if doc["mixed_groups"]:
            lines.append(f"  ({doc['mixed_groups']} more groups have no layout held by more than half their machines)")
    if "require" in doc:
        r = doc["require"]
        lines += ["", f"REQUIRE node {','.join(map(str, r['nodes']))} removable: {r['met']} met, "
                      f"{r['not_met']} not met, {r['cannot_tell']} cannot tell"]
    if doc["bad"]:
        lines += ["", f"BAD INPUTS: {len(doc['bad'])}"] + [f"  {b['input']}: {b['reason']}" for b in doc["bad"]]
    return "\n".join(lines)


def render_csv(doc: dict[str, Any]) -> str:
    """The roll-up as rows ``section,value,machines,ready,not_ready,unknown,detail``."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("section", "value", "machines", "ready", "not_ready", "unknown", "detail"))
    m = doc["machines"]
    w.writerow(("machines", "all", m["total"], m["ready"], m["not_ready"],
                m["unknown"], ""))
    w.writerows(("unknown", u["why"], u["machines"], "", "", "", u["example"]) for u in doc["unknown"])
    w.writerows(("root_cause", c["code"], c["machines"], "", "", "", "") for c in doc["root_causes"])
    for key in SPLIT_HEADINGS:
        w.writerows((key[3:], s["value"], s["machines"], s["ready"], s["not_ready"], s["unknown"],
                     _causes(s["root_causes"])) for s in doc[key])
    w.writerows(("layout", g["layout"], g["machines"], "", "", "", g["example"]) for g in doc["layouts"])
    for g in doc["differ"]:
        w.writerows(("differs", o["layout"], o["machines"], "", "", "",
                     f"{g['kernel']} | {g['firmware']} | {g['options']}: {' '.join(o['examples'])}")
                    for o in g["others"])
    w.writerows(("bad", b["input"], "", "", "", "", b["reason"]) for b in doc["bad"])
    return out.getvalue()


def render_hosts_csv(hosts: list[dict[str, Any]]) -> str:
    """One row per machine (``--hosts --csv``); lists joined by spaces."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HOST_COLUMNS)
    for h in hosts:
        cells = dict(h, dimms=f"{h['dimms']['removable']}/{h['dimms']['total']}")
        w.writerow(" ".join(map(str, v)) if isinstance(v, list) else "" if v is None else v
                   for v in (cells[c] for c in HOST_COLUMNS))
    return out.getvalue()
