"""``movcheck check``: the model's prediction against the live layout."""
from __future__ import annotations

import argparse
from dataclasses import replace

from observer.check import compare_blocks, compare_zones
from observer.errors import EXIT_CANNOT_TELL, EXIT_FINDINGS, EXIT_OK, CommandError, require
from observer.facts import gather
from observer.model.boot import predict
from observer.output import print_json
from probes.memory_blocks import read_memory_blocks
from probes.root import Root
from probes.zoneinfo import read_zoneinfo

HELP = "check the live zone layout against the model's prediction (exit 0 agree, 1 disagree, 3 cannot tell)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace, root: Root) -> int:
    seen = require(read_zoneinfo(root))
    facts = gather(root)
    notes: list[str] = []
    if facts.missing or not facts.inputs.firmware_e820:
        raise CommandError("cannot tell: " + "; ".join(facts.missing or ("no firmware memory map",)),
                           EXIT_CANNOT_TELL)
    inputs = facts.inputs
    if inputs.options.movablemem_map is not None:
        notes.append("the command line carries movablemem_map=, which no released kernel implements: "
                     "the running kernel ignores it, and so does this check")
        inputs = replace(inputs, options=replace(inputs.options, movablemem_map=None))
    blocks = read_memory_blocks(root)
    auto_online = inputs.options.memhp_default_state or inputs.hotplug.auto_online_blocks
    if blocks.ok and auto_online == "offline":
        manual = {b.number: b.valid_zones[0] for b in blocks.value.blocks
                  if b.state == "online" and b.valid_zones and len(b.valid_zones) == 1}
        inputs = replace(inputs, blocks=tuple(replace(b, manual_zone=manual.get(b.index)) for b in inputs.blocks))
    pred = predict(inputs)
    if any(b.online and not b.boot for b in pred.blocks) and auto_online == "offline":
        notes.append("auto-online is off: hot-added blocks online now were onlined by hand, so their zone "
                     "is taken as seen; boot memory and the zone spans are predicted")
    mismatches = compare_zones(pred, seen)
    if blocks.ok:
        mismatches += compare_blocks(pred, blocks.value)
    else:
        notes.append(f"memory blocks not compared: {blocks.describe()}")
    code = EXIT_FINDINGS if mismatches else EXIT_OK
    if args.json:
        print_json({"agree": not mismatches, "kernel": pred.release,
                    "mismatches": [m.__dict__ for m in mismatches], "notes": notes,
                    "assumptions": list(pred.assumptions),
                    "rules": [{"rule": r, "source": c} for r, c in pred.trace.fired()]})
        return code
    for m in mismatches:
        print(m.line())
    for n in notes + [f"assumed: {a}" for a in pred.assumptions]:
        print(n)
    print("agree: the layout matches the prediction" if not mismatches
          else f"disagree: {len(mismatches)} difference(s)")
    return code
