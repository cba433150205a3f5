"""``movcheck snapshot``: record every file movcheck reads, for replay with ``--root``."""
from __future__ import annotations

import argparse
import sys

from observer.errors import EXIT_CANNOT_TELL, EXIT_OK
from probes.root import Root
from probes.snapshot import write_snapshot
from probes.snapshot_notes import NOTES

HELP = "record every file movcheck reads into a directory or a .tar.gz"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="a new directory, or a file ending in .tar.gz")


def run(args: argparse.Namespace, root: Root) -> int:
    result = write_snapshot(root, args.output)
    for _, reason in result.skipped:
        print(f"movcheck snapshot: skipped {reason}", file=sys.stderr)
    print(f"{result.dest}: {result.files} files, {result.links} links")
    if result.consistent is False:
        print(f"movcheck snapshot: memory changed while it was read, {result.tries} times: the snapshot "
              f"may mix before and after ({NOTES} says so)", file=sys.stderr)
        return EXIT_CANNOT_TELL
    if result.tries > 1:
        print(f"movcheck snapshot: memory changed while it was read; read again ({result.tries} tries)",
              file=sys.stderr)
    return EXIT_OK
