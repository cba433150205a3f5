"""The audit in the Prometheus text exposition format, for node_exporter's textfile collector.

Write it to ``<collector dir>/movcheck.prom`` (atomically: to a temporary name, then
rename) from a timer; node_exporter serves it with the host's other metrics.
Verdict gauges are 1 (yes) or 0 (no) and are left out when the audit cannot tell. Names
follow Prometheus naming: base units in the name (``_bytes``, ``_seconds``, ``_ratio``),
``_info`` for a fact carried by labels alone, and labels with few values (node, reason
code, verdict, firmware range); never a block number.
"""
from __future__ import annotations

from observer.audit.verdicts import Audit
from observer.audit.inputs import PAGE_SHIFT
from observer.render.output import fmt_range

#: name -> (type, help). Order is the output order.
METRICS: dict[str, tuple[str, str]] = {
    "movcheck_info": ("gauge", "Constant 1, labelled with the kernel release and host."),
    "movcheck_audit_timestamp_seconds": ("gauge", "Unix time the audit ran."),
    "movcheck_audit_inputs_unreadable": ("gauge", "Inputs the audit could not read (absent or denied)."),
    "movcheck_node_removable": ("gauge", "1 when every present page of the node can be hot-removed."),
    "movcheck_node_ready": ("gauge", "1 when the node is removable and the MOVABLE:KERNEL ratio is within bounds."),
    "movcheck_node_hotpluggable": ("gauge", "1 when the firmware marks memory of the node hot-pluggable (SRAT)."),
    "movcheck_node_present_bytes": ("gauge", "Memory present on the node, bytes."),
    "movcheck_node_movable_bytes": ("gauge", "Memory of the node in ZONE_MOVABLE, bytes."),
    "movcheck_node_reason_info": ("gauge", "1 for each reason the node is not removable or not ready."),
    "movcheck_range_removable": ("gauge", "1 when the SRAT range or DIMM can be hot-removed."),
    "movcheck_range_hotpluggable": ("gauge", "1 when the firmware marks the range hot-pluggable."),
    "movcheck_memory_blocks": ("gauge", "Memory blocks by node and verdict (removable, not_removable, unknown)."),
    "movcheck_movable_ratio": ("gauge", "System ZONE_MOVABLE memory over kernel-zone memory (MOVABLE:KERNEL)."),
    "movcheck_movable_limit_ratio": ("gauge", "The MOVABLE:KERNEL limit in force (memory_hotplug.auto_movable_ratio / 100)."),
    "movcheck_check_mismatches": ("gauge", "Differences between the model's prediction and the live layout."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: object) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def prometheus_text(a: Audit, timestamp: float, mismatches: int | None = None) -> str:
    """The exposition text: a HELP and TYPE line per metric family, then its samples."""
    samples: dict[str, list[str]] = {name: [] for name in METRICS}

    def add(name: str, value: float | int | bool | None, **labels: object) -> None:
        if value is not None:
            samples[name].append(f"{name}{_labels(**labels)} {float(value) if isinstance(value, float) else int(value)}")

    f = a.facts
    add("movcheck_info", 1, kernel=f.release or "", host=f.host)
    add("movcheck_audit_timestamp_seconds", round(timestamp, 3))
    add("movcheck_audit_inputs_unreadable", len(f.problems))
    srat = [r for r in a.ranges if r.kind == "srat"]  # none: no SRAT read, so cannot tell
    hotpluggable = {r.node for r in srat if r.hotpluggable}
    for n in a.nodes:
        add("movcheck_node_removable", n.removable, node=n.node)
        add("movcheck_node_ready", n.ready, node=n.node)
        add("movcheck_node_hotpluggable", n.node in hotpluggable if srat else None, node=n.node)
        add("movcheck_node_present_bytes", n.present_pages << PAGE_SHIFT, node=n.node)
        add("movcheck_node_movable_bytes", n.movable_pages << PAGE_SHIFT, node=n.node)
        for code in dict.fromkeys(r.code for r in n.reasons):
            add("movcheck_node_reason_info", 1, node=n.node, code=code)
    for r in a.ranges:
        labels = {"kind": r.kind, "range": fmt_range(r.start, r.end), "node": "" if r.node is None else r.node}
        add("movcheck_range_removable", r.removable, **labels)
        add("movcheck_range_hotpluggable", r.hotpluggable, **labels)
    counts: dict[tuple[str, str], int] = {}
    for v in a.blocks:
        key = ("" if v.block.node is None else str(v.block.node),
               "unknown" if v.removable is None else "removable" if v.removable else "not_removable")
        counts[key] = counts.get(key, 0) + 1
    for (node, verdict), count in sorted(counts.items()):
        add("movcheck_memory_blocks", count, node=node, verdict=verdict)
    if a.ratio_percent is not None:
        add("movcheck_movable_ratio", round(a.ratio_percent / 100, 4))
    add("movcheck_movable_limit_ratio", a.ratio / 100)
    add("movcheck_check_mismatches", mismatches)
    out = []
    for name, (kind, help_text) in METRICS.items():
        if samples[name]:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(out) + "\n"
