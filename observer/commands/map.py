"""``movcheck map``: the physical address space drawn as rows of facts (SRAT, RAM, zones, blocks)."""
from __future__ import annotations

import argparse
import os
import sys

from observer.audit.verdicts import audit
from observer.audit.inputs import collect, host_name
from observer.prediction import model_predictor
from observer.errors import EXIT_CANNOT_TELL, CommandError
from observer.render.map import map_rows, render_svg, render_terminal
from probes.root import Root

HELP = "draw the physical address space: SRAT nodes, hot-plug ranges, zones, blocks, reservations"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--svg", metavar="FILE", help="also write the picture as a standalone SVG file")
    parser.add_argument("--width", type=int, default=80, help="terminal columns (default 80)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the bars: auto (a terminal without NO_COLOR), always or never")


def use_colour(choice: str) -> bool:
    """auto: stdout is a terminal and NO_COLOR (https://no-color.org) is unset or empty."""
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def run(args: argparse.Namespace, root: Root) -> int:
    facts = collect(root, host_name(root, args.root))
    if facts.blocks is None and facts.zones is None and not facts.firmware:
        raise CommandError(f"{'; '.join(facts.problems)}: nothing to draw", EXIT_CANNOT_TELL)
    result = audit(facts)
    predictor = model_predictor(root)
    predicted, note = None, "model not available"
    if predictor is not None and facts.cmdline is not None:
        try:
            predicted = list(predictor(facts.cmdline))
        except ValueError as exc:
            note = f"model: {exc}"
    rows = map_rows(result, predicted, note)
    title = f"{facts.host}  {facts.release or ''}"
    print(title)
    print(render_terminal(rows, max(args.width, 40), use_colour(args.color)))
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as out:
            out.write(render_svg(rows, f"movcheck map: {title}"))
    return 0
