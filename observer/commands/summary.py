"""``movcheck summary FILE...``: one table over many audit JSON files or recordings (fleet view)."""
from __future__ import annotations

import argparse
import json
import os

from observer.audit import audit
from observer.audit_facts import collect
from observer.audit_report import audit_json
from observer.commands.audit import host_name
from observer.errors import EXIT_BAD_INPUT, EXIT_CANNOT_TELL, CommandError
from observer.summary import SummaryRow, render_summary, row_from_json
from probes.reading import ParseError
from probes.root import RootError, open_root

HELP = "one table (host, kernel, nodes, removable, reasons) over audit JSON files or recordings"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="movcheck audit --json output, or a recording (.tar.gz or snapshot directory)")
    parser.add_argument("--all-reasons", action="store_true",
                        help="list every reason of every node, not only its root cause")


def _row(path: str) -> SummaryRow:
    if os.path.isdir(path) or path.endswith((".tar.gz", ".tgz", ".tar")):
        with open_root(path) as root:
            facts = collect(root, host_name(root, path))
            if facts.zones is None:
                raise CommandError(f"{path}: {'; '.join(facts.problems) or 'no zoneinfo'}", EXIT_CANNOT_TELL)
            return row_from_json(path, audit_json(audit(facts), ""))
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file", EXIT_CANNOT_TELL) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path}: not JSON ({exc})", EXIT_BAD_INPUT) from None
    try:
        return row_from_json(path, doc)
    except ParseError as exc:
        raise CommandError(f"{path}: {exc}", EXIT_BAD_INPUT) from None


def run(args: argparse.Namespace, root: object) -> int:
    try:
        rows = [_row(p) for p in args.files]
    except RootError as exc:
        raise CommandError(str(exc), exc.code) from None
    print(render_summary(rows, every=args.all_reasons))
    return 0
