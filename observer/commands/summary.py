"""``movcheck summary INPUT...``: the fleet roll-up over audit JSON files, recordings, snapshots,
sosreports and boot logs, read in parallel on every core (README: "Fleet triage offline")."""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Iterable, Iterator

from observer.errors import EXIT_BAD_INPUT, CommandError
from observer.fleet.rollup import Rollup
from observer.fleet.pool import judged
from observer.render.fleet import render_csv, render_hosts_csv, render_text
from observer.fleet.machine import render_summary
from probes.fleet_inputs import listed, walk

HELP = "the fleet roll-up over audit JSON files, recordings, sosreports and boot logs (--hosts: per host)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="movcheck audit --json output, a recording (.tar.gz or snapshot directory), a "
                             "sosreport or a boot log; a directory is walked; - reads paths from stdin, one a line")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the roll-up as one JSON document")
    out.add_argument("--csv", action="store_true", help="print the roll-up (with --hosts: the hosts) as CSV")
    parser.add_argument("--hosts", action="store_true", help="also one row per host (the per-host table)")
    parser.add_argument("--all-reasons", action="store_true",
                        help="with --hosts: list every reason of every node, not only its root cause")
    parser.add_argument("--require", action="append", default=[], metavar="NODE",
                        help="exit 1 when a machine cannot remove this node (2, node2), instead of when a "
                             "machine can remove nothing (repeatable)")
    parser.add_argument("--jobs", type=int, default=0, metavar="N",
                        help="worker processes (default: one per core)")


def _node(text: str) -> int:
    m = re.fullmatch(r"\s*(?:node)?(\d+)\s*", text, re.I)
    if not m:
        raise CommandError(f"--require {text!r}: not a node number (2, node2); ranges are for movcheck audit",
                           EXIT_BAD_INPUT)
    return int(m.group(1))


def _named(inputs: list[str]) -> Iterator[str]:
    for path in inputs:
        if path == "-":
            yield from listed(sys.stdin)
        else:
            yield path


def rollup(paths: Iterable[str], require: tuple[int, ...] = (), hosts: bool = False, jobs: int = 0) -> Rollup:
    """Every input below ``paths`` judged and counted."""
    result = Rollup(require, hosts)
    for item in judged(walk(paths), jobs or None):
        result.add(item)
    return result


def run(args: argparse.Namespace, root: object) -> int:
    if args.jobs < 0:
        raise CommandError(f"--jobs {args.jobs}: not a number of processes", EXIT_BAD_INPUT)
    result = rollup(_named(args.inputs), tuple(_node(t) for t in args.require), args.hosts, args.jobs)
    doc = result.to_json()
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif args.csv:
        sys.stdout.write(render_hosts_csv(doc["hosts"]) if args.hosts else render_csv(doc))
    else:
        if args.hosts:
            rows = sorted(result.rows or [], key=lambda r: (r.source, r.host))
            print(render_summary(rows, every=args.all_reasons) + "\n")
        print(render_text(doc))
    return result.exit_status()
