"""``movcheck audit``: can each block, firmware range, DIMM and node be hot-removed, and why not."""
from __future__ import annotations

import argparse
import gc
import os
import re
import sys
import time
from typing import Any

from observer.audit.verdicts import Audit, audit, block_list
from observer.audit.advice import Predictor, advise
from observer.audit.inputs import BLOCK_FILES, AuditFacts, collect, host_name
from observer.check.layout import check_layout
from observer.model_inputs import gather
from observer.prediction import model_predictor
from observer.audit.reasons import REASONS, Reason, verdict
from observer.errors import EXIT_BAD_INPUT, EXIT_CANNOT_TELL, EXIT_FINDINGS, EXIT_OK, CommandError
from observer.render.output import fmt_range
from probes.cmdline import memparse
from probes.memory_blocks import MemoryBlocks, read_memory_blocks
from probes.reading import Reading
from probes.root import Root
from probes.zoneinfo import read_zoneinfo

HELP = "say which memory can be hot-removed, and every reason why not"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (nodes, blocks, ranges, advice)")
    parser.add_argument("--format", choices=("text", "json", "prometheus"), default=None,
                        help="output format; prometheus writes the node_exporter textfile format")
    parser.add_argument("--require", action="append", default=[], metavar="NODE|RANGE",
                        help="exit 1 unless this node (0, node0) or range (0x100000000-0x13fffffff, "
                             "4G-5G, 4G+1G) is removable; 3 when it cannot tell (repeatable)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write to FILE atomically (a temporary file renamed over it), e.g. "
                             "/var/lib/node_exporter/textfile_collector/movcheck.prom")
    parser.add_argument("--list-reasons", action="store_true",
                        help="print every reason code with its severity and sentence, then exit")
    parser.add_argument("--no-advice", action="store_true", help="skip the command-line advice (no model run)")


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``, so a reader
    (node_exporter's textfile collector) never sees half a file."""
    import tempfile
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".movcheck-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def parse_target(text: str) -> tuple[str, int, int]:
    """``("node", n, 0)`` or ``("range", start, end)`` (end exclusive) from a --require value."""
    t = text.strip()
    m = re.fullmatch(r"(?:node)?(\d+)", t, re.I)
    if m:
        return ("node", int(m.group(1)), 0)
    m = re.fullmatch(r"([0-9a-fA-Fx]+[KMGTPE]?)\s*([-+])\s*([0-9a-fA-Fx]+[KMGTPE]?)", t, re.I)
    if m:
        lo, op, hi = m.groups()
        start, n1 = memparse(lo)
        other, n2 = memparse(hi)
        if n1 == len(lo) and n2 == len(hi):
            # lsmem's inclusive 0x..-0x..fff end, or a suffixed exclusive end (4G-5G), or start+size.
            end = start + other if op == "+" else other + 1 if other & 0xFFF == 0xFFF else other
            if end > start:
                return ("range", start, end)
    raise CommandError(f"--require {text!r}: not a node number (0, node0) or a range "
                       "(0x100000000-0x13fffffff, 4G-5G, 4G+1G)", EXIT_BAD_INPUT)


def requirement(a: Audit, target: tuple[str, int, int], text: str) -> dict[str, Any]:
    """Whether one --require target is removable, with the reasons that decide it."""
    kind, x, y = target
    if kind == "node":
        node = next((n for n in a.nodes if n.node == x), None)
        if node is None:
            reasons = [Reason("absent", f"no node {x}")]
        else:
            reasons = node.reasons
        return {"what": text, "kind": "node", "node": x, "removable": verdict(reasons) if node else False,
                "reasons": [r.as_json() for r in reasons], "detail": ",".join(dict.fromkeys(r.code for r in reasons))}
    inside = [v for v in a.blocks if v.block.start < y and x < v.block.end]
    windows = [r for r in a.ranges if not r.blocks and r.start <= x and y <= r.end and r.hotpluggable]
    reasons = [r for v in inside for r in v.reasons]
    if not inside:
        reasons = windows[0].reasons if windows else [Reason("absent", fmt_range(x, y))]
    decided = verdict(reasons)
    return {"what": text, "kind": "range", "range": fmt_range(x, y), "start": x, "end": y,
            "blocks": [v.block.number for v in inside], "removable": decided,
            "reasons": [r.as_json() for r in reasons],
            "detail": (block_list([v.block.number for v in inside]) + " " if inside else "")
            + ",".join(dict.fromkeys(r.code for r in reasons))}


def check(root: Root, memory_blocks: Reading[MemoryBlocks]) -> dict[str, Any]:
    """The checker's verdict (observer.check.layout.check_layout) for the audit: ``agree`` (None when
    it cannot tell), the differences and notes, and what stopped it."""
    facts = gather(root, memory_blocks=memory_blocks)
    zones = root.once(read_zoneinfo)
    problem = facts.cannot_predict
    if not zones.ok:
        problem = zones.describe()
    if problem:
        return {"agree": None, "mismatches": [], "notes": [], "problem": problem}
    result = check_layout(facts.inputs, zones.value, memory_blocks.value if memory_blocks.ok else None,  # type: ignore[arg-type]
                          memory_blocks.describe())
    return {"agree": result.agree, "mismatches": [m.__dict__ for m in result.mismatches],
            "notes": result.notes, "problem": None}


def _prometheus(result: Audit, timestamp: float) -> str:
    """The node_exporter textfile (observer.render.prometheus), with the checker's mismatch count."""
    from observer.render.prometheus import prometheus_text
    mismatches = None if result.check["agree"] is None else len(result.check["mismatches"])  # type: ignore[index]
    return prometheus_text(result, timestamp, mismatches)


def _text(result: Audit, reqs: list[dict[str, Any]] | None) -> str:
    """The text report (observer.render.audit.render)."""
    from observer.render.audit import render
    return render(result, reqs) + "\n"


def run_audit(facts: AuditFacts, targets: list[tuple[str, int, int]], predictor: Predictor | None) -> Audit:
    """The audit of ``facts`` with advice for the targets (or for every hot-pluggable node)."""
    result = audit(facts)
    result.advice = advise(facts, result, targets, predictor)
    return result


def run(args: argparse.Namespace, root: Root) -> int:
    # The per-block records hold no cycles, so the collector's repeated passes over them
    # (4-8 % of a 100k-block audit) buy nothing; it is back on for whoever called main().
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(args, root)
    finally:
        if enabled:
            gc.enable()


def _run(args: argparse.Namespace, root: Root) -> int:
    if args.list_reasons:
        for code, (severity, sentence) in REASONS.items():
            print(f"{code:<19} {severity:<8} {sentence}")
        return EXIT_OK
    fmt = args.format or ("json" if args.json else "text")
    targets = [parse_target(t) for t in args.require]
    blocks = read_memory_blocks(root, BLOCK_FILES)
    checked = check(root, blocks)  # first: the model's per-block objects are gone before the audit makes its own
    facts = collect(root, host_name(root, args.root), memory_blocks=blocks)
    if facts.blocks is None and facts.zones is None:
        raise CommandError(f"{'; '.join(facts.problems)}: no memory blocks and no zoneinfo to audit",
                           EXIT_CANNOT_TELL)
    advice = not args.no_advice and fmt != "prometheus"
    result = run_audit(facts, targets, model_predictor(root, blocks) if advice else None) if advice else audit(facts)
    result.check = checked
    reqs = [requirement(result, t, text) for t, text in zip(targets, args.require)] if targets else None
    now = time.time()
    if fmt == "json":
        from observer.render.audit import audit_json_chunks
        chunks = audit_json_chunks(result, time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)), reqs)
        if args.output:
            write_atomically(args.output, "".join(chunks))
        else:
            sys.stdout.writelines(chunks)
    else:
        text = _prometheus(result, now) if fmt == "prometheus" else _text(result, reqs)
        if args.output:
            write_atomically(args.output, text)
        else:
            sys.stdout.write(text)
    if not reqs:
        return EXIT_OK
    verdicts = [q["removable"] for q in reqs]
    if any(v is False for v in verdicts):
        return EXIT_FINDINGS
    return EXIT_CANNOT_TELL if any(v is None for v in verdicts) else EXIT_OK
