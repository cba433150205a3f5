"""``movcheck check``: the model's prediction against the live layout, or against the kernel's own
zone lines when the input is a boot log alone (no /proc/zoneinfo)."""
from __future__ import annotations

import argparse
import re
from typing import Callable

from observer.check.layout import CheckResult, check_layout
from observer.errors import EXIT_BAD_INPUT, EXIT_CANNOT_TELL, EXIT_FINDINGS, EXIT_OK, CommandError, require
from observer.model_inputs import Facts, gather
from observer.check.bootlog import Cite, check_log, missing_lines
from observer.render.output import print_json
from probes import bootlog_events as ev
from probes.bootlog import DMESG_PATH, read_boot_log, read_boot_log_text
from probes.memory_blocks import read_memory_blocks
from probes.reading import Status
from probes.root import Root
from probes.zoneinfo import read_zoneinfo

HELP = "check the live zone layout against the model's prediction (exit 0 agree, 1 disagree, 3 cannot tell)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


#: Inputs the prediction takes from the boot log when no other file gives them: gather's name
#: for the input, and the kernel's line that carries it.
FROM_THE_LOG = (("kernel release", "'Linux version'", ev.KernelRelease),
                ("command line", "'Command line'", ev.CommandLine),
                ("firmware memory map", "'BIOS-e820'", ev.E820Entry))


def _cannot_tell(facts: Facts) -> str:
    """Why the prediction or the log comparison cannot be made ("" when both can): the kernel's
    lines the log lacks, then any other input missing."""
    log = facts.bootlog
    if log is None:
        return facts.cannot_predict
    lacks, others = [], []
    for m in facts.missing or ((facts.cannot_predict,) if facts.cannot_predict else ()):
        line = next((name for what, name, cls in FROM_THE_LOG if m.startswith(what) and not log.of(cls)), None)
        if line is not None:
            lacks.append(line)
        else:
            others.append(m)
    lacks += missing_lines(log)
    why = "; ".join(others + ([f"the boot log lacks the kernel's {', '.join(lacks)} lines"] if lacks else []))
    return f"{why} ({log.incomplete_reason})" if why and not log.complete else why


def _log_file(root: Root) -> tuple[str, Callable[[int], int]]:
    """The file the boot log was handed in, and its line for each line of the log read."""
    mapped = root.mapped
    if mapped is None or not mapped.log_name:
        return DMESG_PATH, lambda n: n
    lines = mapped.log_lines or ()
    return mapped.log_name, lambda n: lines[n - 1] if 0 < n <= len(lines) else n


def _citer(root: Root) -> Cite:
    """How a mismatch names a line of the boot log: the file it came from, its line there, its text."""
    lines = (root.once(read_boot_log_text).value or "").split("\n")
    name, at = _log_file(root)

    def cite(n: int) -> str:
        return f"{name} line {at(n)}: {lines[n - 1].strip() if 0 < n <= len(lines) else '?'}"
    return cite


def run(args: argparse.Namespace, root: Root) -> int:
    zoneinfo = read_zoneinfo(root)
    if not zoneinfo.ok and zoneinfo.status is Status.ABSENT and root.once(read_boot_log_text).ok:
        log = root.once(read_boot_log)
        if log.status is Status.MALFORMED:  # a line the kernel cannot have written: bad input
            name, at = _log_file(root)
            problem = re.sub(r"\bline (\d+)", lambda m: f"line {at(int(m.group(1)))}", log.problem)
            raise CommandError(f"{name}: {problem}", EXIT_BAD_INPUT)
        facts = gather(root)
        if why := _cannot_tell(facts):
            raise CommandError(f"cannot tell: {why}", EXIT_CANNOT_TELL)
        return _report(args, check_log(facts.inputs, facts.bootlog, _citer(root)))  # type: ignore[arg-type]
    seen = require(zoneinfo)
    blocks = read_memory_blocks(root, ("state", "valid_zones"))
    facts = gather(root, memory_blocks=blocks)
    if facts.cannot_predict:
        raise CommandError(f"cannot tell: {facts.cannot_predict}", EXIT_CANNOT_TELL)
    return _report(args, check_layout(facts.inputs, seen, blocks.value if blocks.ok else None, blocks.describe()))  # type: ignore[arg-type]


def _report(args: argparse.Namespace, result: CheckResult) -> int:
    pred, mismatches = result.prediction, result.mismatches
    code = EXIT_FINDINGS if mismatches else EXIT_OK
    if args.json:
        print_json({"agree": result.agree, "kernel": pred.release,
                    "mismatches": [m.__dict__ for m in mismatches], "notes": result.notes,
                    "assumptions": list(pred.assumptions),
                    "rules": [{"rule": r, "source": c} for r, c in pred.trace.fired()]})
        return code
    for m in mismatches:
        print(m.line())
    for n in result.notes + [f"assumed: {a}" for a in pred.assumptions]:
        print(n)
    print("agree: the layout matches the prediction" if result.agree
          else f"disagree: {len(mismatches)} difference(s)")
    return code
