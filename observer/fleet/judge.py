"""One input of ``movcheck summary`` judged: an audit JSON file read, or a snapshot, recording,
sosreport or boot log audited (without advice). A bad input becomes a :class:`Bad` with its
reason, never an exception, so that one file never stops a fleet run."""
from __future__ import annotations

import json
import os
from typing import NamedTuple, Union

from observer.audit.verdicts import audit
from observer.audit.inputs import collect, host_name
from observer.render.audit import audit_json
from observer.fleet.machine import SummaryRow, row_from_json, unjudged_row
from probes.bootlog import read_boot_log
from probes.fleet_inputs import JSON, kind_of, read_json_bytes
from probes.reading import ParseError
from probes.root import RootError, open_root

#: Why a machine's input is known but cannot be audited (the audit command refuses it too).
NOTHING_TO_AUDIT = "no memory blocks and no zoneinfo to audit"


class Bad(NamedTuple):
    """An input that could not be read as anything movcheck reads: ``code`` 2 malformed or foreign,
    3 missing or denied, 4 a bug in movcheck."""

    source: str
    reason: str
    code: int = 2


Judged = Union[SummaryRow, Bad]


def judge(path: str) -> Judged:
    """The row of the machine at ``path``, or why it is a bad input."""
    try:
        return _from_json(path) if kind_of(path) == JSON else _from_root(path)
    except RootError as exc:
        text = str(exc)
        return Bad(path, text[len(path) + 2:] if text.startswith(f"{path}: ") else text, exc.code)
    except (ParseError, UnicodeDecodeError) as exc:
        return Bad(path, str(exc))
    except Exception as exc:  # a bug: listed, and the run exits 4, but it goes on
        where = exc.__traceback__
        while where is not None and where.tb_next is not None:
            where = where.tb_next
        at = f"{os.path.basename(where.tb_frame.f_code.co_filename)}:{where.tb_lineno}" if where else "?"
        return Bad(path, f"internal error at {at}: {type(exc).__name__}: {exc} (a bug in movcheck)", 4)


def judge_many(paths: list[str]) -> list[Judged]:
    """:func:`judge` of each path (one task of the process pool)."""
    return [judge(p) for p in paths]


def _without_blocks(data: bytes) -> bytes | None:
    """The document with its ``blocks`` list emptied, when it is laid out as ``movcheck audit --json``
    writes it (indented by two: the list opens on a line ``  "blocks": [`` and closes on the first
    line ``  ]`` after it, as no string holds a newline); None otherwise. The summary reads no
    block, and the blocks are most of the bytes."""
    start = data.find(b'\n  "blocks": [\n')
    if start < 0:
        return None
    start += len(b'\n  "blocks": [')
    end = data.find(b"\n  ]", start)
    return None if end < 0 else data[:start] + data[end:]


def _from_json(path: str) -> SummaryRow:
    data = read_json_bytes(path)
    short = _without_blocks(data)
    try:
        return row_from_json(path, json.loads(short))  # type: ignore[arg-type]
    except (TypeError, ValueError):  # not the audit's layout after all: read it whole
        pass
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        if not data.strip():
            raise ParseError("empty, not an audit JSON document") from None
        if exc.pos >= len(data.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise ParseError(f"truncated JSON (ends after {len(data)} bytes: {exc.msg})") from None
        raise ParseError(f"not JSON ({exc.msg}, byte {exc.pos})") from None
    return row_from_json(path, doc)


def _from_root(path: str) -> SummaryRow:
    with open_root(path) as root:
        facts = collect(root, host_name(root, path))
        if facts.blocks is None and facts.zones is None:
            log = root.once(read_boot_log)
            cmdline = facts.cmdline or (log.value.command_line if log.ok and log.value else None)
            firmware = facts.boot_firmware.describe() if facts.boot_firmware else "?"
            alone = " (a boot log alone)" if root.mapped is not None and root.mapped.log_name == path else ""
            return unjudged_row(path, facts.host, facts.release, firmware, cmdline, NOTHING_TO_AUDIT + alone)
        return row_from_json(path, audit_json(audit(facts), "", blocks=False))
