"""The watch trace: JSON lines, a header, one observation per line, a closing summary.

Line 1 is ``{"movcheck_trace": 1, "release": ..., "sources": [...], "attach_points": [...],
"state": {...}}`` where ``state`` is the :class:`~probes.sysfs_poll.HotplugState` at the
start. Each further line is ``{"event": {...}}`` (an :class:`Observation` with the
verdict watch printed) or, last, ``{"summary": {...}}``. A trace cut short (watch
killed) has no summary and still replays.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import IO, Iterator

from probes.records import field, frozen, replace
from probes.reading import ParseError
from probes.sysfs_poll import HotplugState, state_from_json

FORMAT = 1


@frozen
class Verdict:
    """``status`` is agree | disagree | unknown | info; expected/actual are zone names."""

    status: str
    why: str
    expected: str | None = None
    actual: str | None = None


@frozen
class Observation:
    """One thing a source saw: a block added/onlined/offlined/removed, or events lost."""

    seq: int
    t: float  # seconds since the watch started
    source: str  # bpf | uevent | poll | reconcile
    action: str  # add | online | offline | remove | lost
    block: int | None = None
    start_pfn: int | None = None
    nr_pages: int | None = None
    node: int | None = None
    zone: str | None = None
    online_type: str | None = None
    result: int = 0
    error: str | None = None
    duration_us: float | None = None
    detail: dict[str, object] = field(default_factory=dict)
    raw: str | None = None  # hex of the datagram / perf record it came from

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


def observation_from_json(obj: object) -> Observation:
    if not isinstance(obj, dict):
        raise ParseError("event is not a JSON object")
    try:
        return Observation(**obj)
    except TypeError as exc:
        raise ParseError(f"event fields: {exc}") from None


@frozen
class Header:
    """The trace's first line: kernel, sources, attach points, notes and the starting state."""

    release: str
    sources: tuple[str, ...]
    attach_points: tuple[str, ...]
    notes: tuple[str, ...]
    state: HotplugState

    def to_json(self) -> dict[str, object]:
        return {"movcheck_trace": FORMAT, "release": self.release, "sources": list(self.sources),
                "attach_points": list(self.attach_points), "notes": list(self.notes),
                "state": self.state.to_json()}


class TraceWriter:
    """Writes a trace line by line, flushing each so a killed watch leaves a usable file."""

    def __init__(self, stream: IO[str], header: Header) -> None:
        self._out = stream
        self._line(header.to_json())

    def _line(self, obj: dict[str, object]) -> None:
        self._out.write(json.dumps(obj, sort_keys=True) + "\n")
        self._out.flush()

    def event(self, obs: Observation, verdict: Verdict | None) -> None:
        body = obs.to_json()
        if verdict is not None:
            body["verdict"] = asdict(verdict)
        self._line({"event": body})

    def summary(self, summary: dict[str, object]) -> None:
        self._line({"summary": summary})


class TraceFile:
    """A trace written to ``path`` that, once it reaches ``max_bytes``, moves to ``path.1``
    (``path.1`` to ``path.2``, ..., at most ``keep`` old files) and starts again with a header
    holding the hotplug state at that point, so every file replays on its own. Opening happens
    at once, so a bad path fails before the watch starts."""

    def __init__(self, path: str, max_bytes: int | None = None, keep: int = 5) -> None:
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        self._out: IO[str] = open(path, "w", encoding="utf-8")
        self._writer: TraceWriter | None = None
        self._header: Header | None = None
        self.rotations = 0

    def start(self, header: Header) -> None:
        self._header = header
        self._writer = TraceWriter(self._out, header)

    def event(self, obs: Observation, verdict: Verdict | None, state: HotplugState) -> None:
        """Write one event; ``state`` is the hotplug state after it (the next file's header)."""
        assert self._writer is not None and self._header is not None
        self._writer.event(obs, verdict)
        if self.max_bytes is not None and self._out.tell() >= self.max_bytes:
            self._out.close()
            for n in range(self.keep - 1, 0, -1):
                if os.path.exists(f"{self.path}.{n}"):
                    os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
            self._out = open(self.path, "w", encoding="utf-8")
            self.start(replace(self._header, state=state))
            self.rotations += 1

    def summary(self, summary: dict[str, object]) -> None:
        assert self._writer is not None
        self._writer.summary(summary)

    def close(self) -> None:
        self._out.close()


@frozen
class TraceLine:
    """One later line of a trace: its line number, the observation and the verdict given."""

    lineno: int
    observation: Observation
    verdict: Verdict | None


def read_trace(lines: Iterator[str], name: str) -> tuple[Header, list[TraceLine], dict | None]:
    """Parse a whole trace; ParseError names ``name`` and the line at fault."""
    header: Header | None = None
    events: list[TraceLine] = []
    summary = None
    for lineno, line in enumerate(lines, 1):
        where = f"{name}: line {lineno}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ParseError(f"{where}: not a JSON object")
        try:
            if header is None:
                if obj.get("movcheck_trace") != FORMAT:
                    raise ParseError(f"not a movcheck trace header (format {FORMAT})")
                header = Header(str(obj["release"]), tuple(obj["sources"]), tuple(obj["attach_points"]),
                                tuple(obj.get("notes", ())), state_from_json(obj["state"]))
            elif summary is not None:
                raise ParseError("line after the summary")
            elif "event" in obj:
                body = dict(obj["event"])
                v = body.pop("verdict", None)
                events.append(TraceLine(lineno, observation_from_json(body),
                                        Verdict(**v) if isinstance(v, dict) else None))
            elif "summary" in obj:
                summary = obj["summary"]
            else:
                raise ParseError("neither an event nor a summary")
        except ParseError as exc:
            raise ParseError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"{where}: malformed ({type(exc).__name__}: {exc})") from None
    if header is None:
        raise ParseError(f"{name}: empty, no trace header")
    return header, events, summary
