"""``movcheck plan``: the zone layout the model predicts, for this boot or a what-if command line."""
from __future__ import annotations

import argparse

from observer.errors import EXIT_CANNOT_TELL, EXIT_OK, CommandError
from observer.model_inputs import gather
from observer.model.boot import predict
from observer.check.bootlog import boot_prediction, explain_lines
from observer.model.explain import explain
from observer.render.output import print_json
from observer.render.plan import plan_json, plan_lines
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
        same_line = args.cmdline is None
        for line in explain(pred, log_phases(log) if log and same_line else None):
            print(line)
        if log is None:
            print("against the kernel's own zone lines:\n  no boot log: nothing to compare")
        elif not same_line:
            print("against the kernel's own zone lines:\n  not compared: --cmdline is not the recorded boot's")
        else:
            for line in explain_lines(boot_prediction(facts.inputs)[0], log):
                print(line)
        return EXIT_OK
    today = read_zoneinfo(root)
    for line in plan_lines(pred, today.value if today.ok else None):
        print(line)
    return EXIT_OK
