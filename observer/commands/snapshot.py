"""``movcheck snapshot``: record every file movcheck reads, for replay with ``--root``."""
from __future__ import annotations

import argparse
import sys

from probes.root import Root
from probes.snapshot import write_snapshot

HELP = "record every file movcheck reads into a directory or a .tar.gz"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="a new directory, or a file ending in .tar.gz")


def run(args: argparse.Namespace, root: Root) -> int:
    result = write_snapshot(root, args.output)
    for _, reason in result.skipped:
        print(f"movcheck snapshot: skipped {reason}", file=sys.stderr)
    print(f"{result.dest}: {result.files} files, {result.links} links")
    return 0
