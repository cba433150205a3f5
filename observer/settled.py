"""Read a live machine until it holds still: a command run again when memory changed under it.

Memory blocks come and go while a command reads them (a DIMM ejected, a block taken
offline). On a live root a reading command runs with its output held back; when the
uevent sequence number (:mod:`probes.generation`) moved during the run, what it read may
mix before and after, so it runs again, up to :data:`TRIES` times. The output of a run
that held still is printed; if none did, a note says so and the exit status is 3 (cannot
tell): never a verdict on a mixed reading.
"""
from __future__ import annotations

import argparse
import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from typing import Callable

from observer.errors import EXIT_CANNOT_TELL, CommandError
from probes.generation import read_settled
from probes.root import Root, RootError

Run = Callable[[argparse.Namespace, Root], int]


def run_settled(run: Run, args: argparse.Namespace, root: Root, prog: str) -> int:
    """``run(args, root)`` until no uevent came during it; its output and exit status."""
    def attempt() -> tuple[int, CommandError | RootError | None, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                return int(run(args, root)), None, out.getvalue(), err.getvalue()
            except (CommandError, RootError) as exc:
                return exc.code, exc, out.getvalue(), err.getvalue()

    got = read_settled(root, attempt)
    code, failure, out, err = got.value
    sys.stderr.write(err)
    if got.held is False:  # no verdict on a reading that may mix before and after
        print(f"{prog}: memory changed while it was read, {got.tries} times (uevent_seqnum "
              f"{got.seqnums[0]} -> {got.seqnums[1]}); no result. Run again when hotplug has settled",
              file=sys.stderr)
        return EXIT_CANNOT_TELL
    sys.stdout.write(out)
    if got.tries > 1:
        print(f"{prog}: memory changed while it was read; read again ({got.tries} tries)", file=sys.stderr)
    if failure is not None:
        raise failure
    return code
