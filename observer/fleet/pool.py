"""Judge many inputs on every core, streaming: a process pool fed batches of paths, with at most
a few batches in flight, so memory stays flat however many inputs there are. Results come back
in completion order; the roll-up (observer/fleet/rollup.py) does not depend on it."""
from __future__ import annotations

import itertools
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Iterable, Iterator

from observer.fleet.judge import Judged, judge, judge_many

#: Paths per task: small enough to balance slow recordings, large enough that a 0.5 ms JSON
#: file does not pay a round trip of its own.
BATCH = 16
#: Tasks in flight per worker.
AHEAD = 2


def workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def judged(paths: Iterable[str], jobs: int | None = None, batch: int = BATCH) -> Iterator[Judged]:
    """:func:`~observer.fleet.judge.judge` of every path; in this process when there is one job or
    one input, one path per task when there are no more than ``batch``."""
    jobs = jobs or workers()
    it = iter(paths)
    first = list(itertools.islice(it, batch + 1))
    if jobs <= 1 or len(first) <= 1:
        yield from map(judge, itertools.chain(first, it))
        return
    if len(first) <= batch:
        it, first, batch = iter(first[1:]), first[:1], 1
    batches = itertools.chain([first], iter(lambda: list(itertools.islice(it, batch)), []))
    # fork: the workers start with movcheck already imported (spawn would import it per worker).
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: set[Future[list[Judged]]] = set()
        for paths_batch in batches:
            pending.add(pool.submit(judge_many, paths_batch))
            if len(pending) >= jobs * AHEAD:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield from fut.result()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield from fut.result()
