"""``movcheck plan``: the zone layout the model predicts, for this boot or a what-if command line."""
from __future__ import annotations

import argparse

from observer.errors import EXIT_CANNOT_TELL, EXIT_OK, CommandError
from observer.facts import gather
from observer.model.boot import predict
from observer.model.explain import explain, kernel_spans
from observer.output import print_json
from observer.plan import plan_json, plan_lines
from probes import bootlog_events as ev
from probes.bootlog import BootLog
from probes.root import Root
from probes.zoneinfo import read_zoneinfo

HELP = "predict the zone layout from firmware facts and the command line (what-if with --cmdline)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cmdline", metavar="LINE", help="predict for this kernel command line instead")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--explain", action="store_true",
                        help="replay the boot step by step and compare with the kernel's own zone lines")


#: Boot-log event kinds -> the model step of the same phase.
PHASES = {"e820": "e820-memblock", "e820_change": "e820-trim", "srat_cpu": "srat-pxm",
          "srat_memory": "srat-memory", "numa_merge": "numa-cleanup", "fake_node": "numa-dummy",
          "numa_note": "numa-dummy", "ramdisk": "kernel-node-hotplug", "acpi_reserved": "kernel-node-hotplug",
          "acpi_upgrade": "kernel-node-hotplug", "node_data": "numa-set-node",
          "node_data_elsewhere": "numa-set-node"}


def log_phases(log: BootLog) -> dict[str, list[str]]:
    """The boot log's events grouped by the model step of their phase; memblock=debug calls
    before the first SRAT line count as early reservations, later ones as node setup."""
    out: dict[str, list[str]] = {}
    seen_srat = False
    for e in log.events:
        seen_srat |= e.kind == "srat_memory"
        rule = PHASES.get(e.kind)
        if e.kind in ("memblock_range", "memblock_alloc"):
            rule = "numa-set-node" if seen_srat else "kernel-node-hotplug"
        if rule:
            fields = {k: (f"{v:#x}" if isinstance(v, int) and k in ("start", "end", "address") else v)
                      for k, v in vars(e).items() if k not in ("line", "usec")}
            out.setdefault(rule, []).append(f"line {e.line}: {e.kind} " + " ".join(f"{k}={v}" for k, v in fields.items()))
    return out


def run(args: argparse.Namespace, root: Root) -> int:
    facts = gather(root, args.cmdline)
    if facts.cannot_predict:  # the same rule as check's: a missing input is named, not guessed
        raise CommandError("cannot predict: " + facts.cannot_predict, EXIT_CANNOT_TELL)
    pred = predict(facts.inputs)
    if args.json:
        print_json(plan_json(pred, args.cmdline if args.cmdline is not None else
                             (facts.cmdline.raw if facts.cmdline else None), facts.missing))
        return EXIT_OK
    if args.explain:
        log = facts.bootlog
        early = [(e.node, e.start, e.end) for e in log.of(ev.EarlyNodeRange)] if log else []
        movable = log.movable_zone_start if log and log.of(ev.ZoneRange) else None
        same_line = args.cmdline is None
        by_rule = log_phases(log) if log and same_line else None
        zones = None
        if log and same_line and log.zone_ranges and early:
            ranges = [(z.zone, z.start, z.end) for z in log.zone_ranges if z.start is not None and z.end is not None]
            pages = {(e.node, e.zone): e.pages for e in log.of(ev.ZonePresentPages)}
            pages.update({(e.node, ""): e.pages for e in log.of(ev.NodeTotalPages)})
            zones = (kernel_spans(ranges, early, log.movable_zone_start), pages)
        for line in explain(pred, early if early and same_line else None, movable if same_line else None,
                            by_rule, zones):
            print(line)
        return EXIT_OK
    today = read_zoneinfo(root)
    for line in plan_lines(pred, today.value if today.ok else None):
        print(line)
    return EXIT_OK
