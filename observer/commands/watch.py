"""``movcheck watch``: see memory hotplug events as they happen and check each one."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import asdict

from observer.errors import EXIT_CANNOT_TELL, EXIT_FINDINGS, EXIT_OK, CommandError
from observer.watch.trace import Header, Observation, TraceFile
from observer.watch.live import Checker, Watcher, format_line
from probes.cmdline import memparse
from probes.root import Root

HELP = "watch memory hot-add/online/offline/remove live and check each zone choice"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="TRACE", help="write a JSON-lines trace for `movcheck replay`")
    parser.add_argument("--rotate-size", type=_size, metavar="SIZE",
                        help="once the trace reaches SIZE (bytes, or 64K, 10M, 1G) move it to TRACE.1 and "
                             "start a new one that replays on its own (default: never)")
    parser.add_argument("--rotate-keep", type=_count, default=5, metavar="N",
                        help="old traces to keep with --rotate-size: TRACE.1 to TRACE.N (default: 5)")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--json", action="store_true", help="print each event as a JSON line")
    parser.add_argument("--no-bpf", action="store_true", help="do not try eBPF; uevents (or polling) only")
    parser.add_argument("--buffer-pages", type=_pages, default=64, metavar="N",
                        help="eBPF perf buffer pages per CPU, a power of two (default: 64); events that "
                             "overflow it are counted as lost and sysfs is read again")
    parser.add_argument("--rcvbuf", type=_size, metavar="SIZE",
                        help="uevent netlink receive buffer (bytes, or 64K; default: the kernel's); an "
                             "overflow (ENOBUFS) is counted as lost and sysfs is read again")


def _size(text: str) -> int:
    value, used = memparse(text)
    if used != len(text) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (bytes, or 64K, 10M, 1G)")
    return value


def _pages(text: str) -> int:
    n = _count(text)
    if n & (n - 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a power of two (1, 2, 4, ... pages)")
    return n


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of 1 or more")
    return int(text)


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM stop the watch cleanly, also when started in the background
    (a non-interactive shell starts background jobs with SIGINT ignored)."""
    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def run(args: argparse.Namespace, root: Root) -> int:
    if not root.live:
        raise CommandError("watch reads the live kernel; --root is for `movcheck replay` traces", 2)
    if args.rotate_size is not None and not args.output:
        raise CommandError("--rotate-size rotates the trace: give one with -o TRACE", 2)
    try:
        out = TraceFile(args.output, args.rotate_size, args.rotate_keep) if args.output else None
    except OSError as exc:
        raise CommandError(f"{args.output}: {exc.strerror}", 2) from None
    counts = {"agree": 0, "disagree": 0, "unknown": 0, "info": 0}
    checker: Checker | None = None

    def emit(obs: Observation) -> None:
        assert checker is not None
        verdict = checker.check(obs)
        if verdict is not None:
            counts[verdict.status] += 1
        if out is not None:
            out.event(obs, verdict, checker.state)
        if args.json:
            body = obs.to_json()
            body.pop("raw", None)
            body["verdict"] = asdict(verdict) if verdict else None
            print(json.dumps(body, sort_keys=True), flush=True)
        else:
            print(format_line(obs, verdict), flush=True)
        if obs.action == "lost":  # a gap: said where the operator looks, not only in the event stream
            print(f"movcheck watch: {verdict.why if verdict else 'events lost'}", file=sys.stderr, flush=True)

    _stop_on_signals()
    try:
        watcher = Watcher(root, emit, use_bpf=not args.no_bpf, rcvbuf=args.rcvbuf, bpf_pages=args.buffer_pages)
    except RuntimeError as exc:
        raise CommandError(f"cannot watch: {exc}", EXIT_CANNOT_TELL) from None
    try:
        checker = Checker(watcher.state, watcher.checked)
        header = Header(os.uname().release, tuple(watcher.sources), tuple(watcher.attach_points),
                        tuple(watcher.notes), watcher.state)
        if out is not None:
            out.start(header)
        for note in watcher.notes:
            print(f"movcheck watch: {note}", file=sys.stderr, flush=True)
        points = f" ({', '.join(watcher.attach_points)})" if watcher.attach_points else ""
        print(f"movcheck watch: sources {', '.join(watcher.sources)}{points}; Ctrl-C to stop",
              file=sys.stderr, flush=True)
        deadline = time.monotonic() + args.duration if args.duration is not None else None
        try:
            watcher.run(deadline)
        except KeyboardInterrupt:
            pass
        missed = watcher.reconcile("reconcile")  # changes no event showed: reported, never hidden
    finally:
        watcher.close()
    summary = {"events": watcher.seq, "lost": watcher.lost, "reconciled": watcher.reconciled,
               "missed_at_end": missed, "verdicts": counts, "notes": watcher.notes}
    if out is not None:
        out.summary(summary)
        out.close()
    print(f"movcheck watch: {watcher.seq} events; lost {watcher.lost['bpf']} (perf buffer), "
          f"{watcher.lost['uevent']} overflow(s) (uevent ENOBUFS); {watcher.reconciled} change(s) "
          f"reconciled from sysfs; {missed} found only at the end; "
          + ", ".join(f"{v} {k}" for k, v in counts.items()), file=sys.stderr)
    if counts["disagree"]:
        return EXIT_FINDINGS
    if missed:
        return EXIT_CANNOT_TELL
    return EXIT_OK
