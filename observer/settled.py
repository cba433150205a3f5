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
from probes.generation import TRIES, read_generation
from probes.root import Root, RootError

Run = Callable[[argparse.Namespace, Root], int]


def run_settled(run: Run, args: argparse.Namespace, root: Root, prog: str) -> int:
    """``run(args, root)`` until no uevent came during it; its output and exit status."""
    for attempt in range(1, TRIES + 1):
        root.forget()
        before = read_generation(root)
        out, err = io.StringIO(), io.StringIO()
        failure: CommandError | RootError | None = None
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = int(run(args, root))
            except (CommandError, RootError) as exc:
                failure, code = exc, exc.code
        after = read_generation(root)
        held = not before.ok or (after.ok and before.value == after.value)
        if held or attempt == TRIES:
            break
    sys.stderr.write(err.getvalue())
    if not held:  # no verdict on a reading that may mix before and after
        print(f"{prog}: memory changed while it was read, {TRIES} times (uevent_seqnum {before.value} -> "
              f"{after.value}); no result. Run again when hotplug has settled", file=sys.stderr)
        return EXIT_CANNOT_TELL
    sys.stdout.write(out.getvalue())
    if attempt > 1:
        print(f"{prog}: memory changed while it was read; read again ({attempt} tries)", file=sys.stderr)
    if failure is not None:
        raise failure
    return code
