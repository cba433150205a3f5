"""``movcheck replay TRACE``: re-run every check of a watch trace offline."""
from __future__ import annotations

import argparse
import sys

from observer.errors import EXIT_BAD_INPUT, EXIT_CANNOT_TELL, EXIT_FINDINGS, EXIT_OK, CommandError
from observer.watch.trace import Observation, read_trace
from observer.watch.live import Checker, format_line
from probes.bpf.decode import decode_event
from probes.reading import ParseError
from probes.root import Root
from probes.uevent import parse_uevent

HELP = "re-run the checks of a `movcheck watch` trace offline and print the same verdicts"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", metavar="TRACE", help="a trace written by `movcheck watch -o`")


def run(args: argparse.Namespace, root: Root) -> int:
    try:
        with open(args.trace, encoding="utf-8") as f:
            header, lines, summary = read_trace(iter(f), args.trace)
    except FileNotFoundError:
        raise CommandError(f"{args.trace}: no such trace", EXIT_CANNOT_TELL) from None
    except UnicodeDecodeError:
        raise CommandError(f"{args.trace}: not a text trace", EXIT_BAD_INPUT) from None
    except ParseError as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from None
    print(f"movcheck replay: {args.trace}: kernel {header.release}, sources {', '.join(header.sources)}",
          file=sys.stderr)
    checker = Checker(header.state, header.sources[0])
    disagree = differ = 0
    for line in lines:
        _check_raw(args.trace, line.lineno, line.observation)
        verdict = checker.check(line.observation)
        print(format_line(line.observation, verdict))
        if verdict is not None and verdict.status == "disagree":
            disagree += 1
        if verdict != line.verdict:
            differ += 1
            print(f"movcheck replay: {args.trace}: line {line.lineno}: watch said {line.verdict}", file=sys.stderr)
    if summary is None:
        print(f"movcheck replay: {args.trace}: no summary line (the watch was cut short)", file=sys.stderr)
    print(f"movcheck replay: {len(lines)} events, {disagree} disagreement(s), "
          f"{differ} verdict(s) differ from the recorded ones", file=sys.stderr)
    return EXIT_FINDINGS if disagree or differ else EXIT_OK


def _check_raw(name: str, lineno: int, obs: Observation) -> None:
    """Re-decode the raw record an event came from; it must say what the event says."""
    if obs.raw is None:
        return
    try:
        raw = bytes.fromhex(obs.raw)
        if obs.source == "bpf":
            ev = decode_event(raw)
            same = (ev.kind, ev.start_pfn, ev.nr_pages, ev.zone) == (obs.action, obs.start_pfn, obs.nr_pages, obs.zone)
        else:
            uev = parse_uevent(raw)
            same = (uev.action, uev.block) == (obs.action, obs.block)
    except (ValueError, ParseError) as exc:
        raise CommandError(f"{name}: line {lineno}: raw record: {exc}", EXIT_BAD_INPUT) from None
    if not same:
        raise CommandError(f"{name}: line {lineno}: raw record does not match the event", EXIT_BAD_INPUT)
