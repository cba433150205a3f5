"""``movcheck check``: the model's prediction against the live layout."""
from __future__ import annotations

import argparse

from observer.check import check_layout
from observer.errors import EXIT_CANNOT_TELL, EXIT_FINDINGS, EXIT_OK, CommandError, require
from observer.facts import gather
from observer.output import print_json
from probes.memory_blocks import read_memory_blocks
from probes.root import Root
from probes.zoneinfo import read_zoneinfo

HELP = "check the live zone layout against the model's prediction (exit 0 agree, 1 disagree, 3 cannot tell)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace, root: Root) -> int:
    seen = require(read_zoneinfo(root))
    blocks = read_memory_blocks(root, ("state", "online", "valid_zones"))
    facts = gather(root, memory_blocks=blocks)
    if facts.cannot_predict:
        raise CommandError(f"cannot tell: {facts.cannot_predict}", EXIT_CANNOT_TELL)
    result = check_layout(facts.inputs, seen, blocks.value if blocks.ok else None, blocks.describe())
    pred, mismatches = result.prediction, result.mismatches
    code = EXIT_FINDINGS if mismatches else EXIT_OK
    if args.json:
        print_json({"agree": result.agree, "kernel": pred.release,
                    "mismatches": [m.__dict__ for m in mismatches], "notes": result.notes,
                    "assumptions": list(pred.assumptions),
                    "rules": [{"rule": r, "source": c} for r, c in pred.trace.fired()]})
        return code
    for m in mismatches:
        print(m.line())
    for n in result.notes + [f"assumed: {a}" for a in pred.assumptions]:
        print(n)
    print("agree: the layout matches the prediction" if result.agree
          else f"disagree: {len(mismatches)} difference(s)")
    return code
