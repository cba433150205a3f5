"""movcheck replay: the same verdicts offline, and one-line errors on bad traces."""
from __future__ import annotations

import functools
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from observer import cli
from observer.watch.trace import Header, Observation, TraceWriter, read_trace
from observer.watch.live import Checker, format_line
from probes.reading import ParseError
from probes.root import open_root
from probes.sysfs_poll import HotplugState, read_state

DATA = Path(__file__).parent / "data"
RECORDED = sorted((DATA / "watch").glob("*.jsonl"))
BP = 32768


def movcheck(monkeypatch, *argv: str) -> int:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "COMMANDS", ("watch", "replay"))
    return cli.main(list(argv))


@functools.lru_cache(maxsize=1)
def recorded_state() -> HotplugState:
    """The hotplug state of a real 6.18 VM recording."""
    with open_root(DATA / "vm-6.18.44.tar.gz") as root:
        return read_state(root, "6.18.44").value  # type: ignore[return-value]


def write_trace(path: Path, observations: list[Observation], policy: str = "online") -> list[str]:
    """A trace as watch writes it (verdicts from the checker); returns the lines watch printed."""
    state = replace(recorded_state(), auto_online=policy)
    checker = Checker(state, "uevent")
    printed = []
    with open(path, "w") as f:
        w = TraceWriter(f, Header("6.18.44", ("uevent",), (), (), state))
        for o in observations:
            v = checker.check(o)
            w.event(o, v)
            printed.append(format_line(o, v))
        w.summary({"events": len(observations)})
    return printed


def ev(seq: int, action: str, block: int, **kw: object) -> Observation:
    return Observation(seq=seq, t=seq * 0.25, source="uevent", action=action, block=block,
                       start_pfn=block * BP, nr_pages=BP, node=0, **kw)  # type: ignore[arg-type]


def test_replay_prints_what_watch_printed(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    printed = write_trace(tmp_path / "t.jsonl", [ev(1, "add", 400), ev(2, "online", 400, zone="Normal"),
                                                 ev(3, "offline", 400), ev(4, "remove", 400)])
    assert movcheck(monkeypatch, "replay", str(tmp_path / "t.jsonl")) == 0
    assert capsys.readouterr().out.splitlines() == printed


def test_replay_exit_1_on_a_disagreement(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    write_trace(tmp_path / "t.jsonl", [ev(1, "add", 400), ev(2, "online", 400, zone="Movable")])
    assert movcheck(monkeypatch, "replay", str(tmp_path / "t.jsonl")) == 1
    assert "DISAGREE" in capsys.readouterr().out


def test_replay_flags_a_recorded_verdict_it_does_not_reproduce(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.jsonl"
    write_trace(path, [ev(1, "add", 400), ev(2, "online", 400, zone="Normal")])
    lines = path.read_text().splitlines()
    body = json.loads(lines[2])
    body["event"]["verdict"]["expected"] = "Movable"
    lines[2] = json.dumps(body)
    path.write_text("\n".join(lines) + "\n")
    assert movcheck(monkeypatch, "replay", str(path)) == 1
    assert f"{path}: line 3: watch said" in capsys.readouterr().err


@pytest.mark.parametrize("mangle, message", [
    (lambda ls: ls[:1] + ["{not json"] + ls[1:], "line 2: not JSON"),
    (lambda ls: ['{"movcheck_trace": 9}'] + ls[1:], "line 1: not a movcheck trace"),
    (lambda ls: ls[:1] + ['{"event": {"seq": 1, "bogus": 2}}'], "line 2: event fields"),
    (lambda ls: ls + ['{"event": {}}'], "line after the summary"),
    (lambda ls: [], "empty, no trace header"),
])
def test_corrupt_trace_is_one_line_exit_2(tmp_path, monkeypatch, capsys, mangle, message) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.jsonl"
    write_trace(path, [ev(1, "add", 400)])
    path.write_text("\n".join(mangle(path.read_text().splitlines())) + "\n")
    assert movcheck(monkeypatch, "replay", str(path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0]


def test_raw_record_must_match_its_event(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    raw = b"add@/devices/system/memory/memory401\0ACTION=add\0SUBSYSTEM=memory\0SEQNUM=1\0".hex()
    write_trace(tmp_path / "t.jsonl", [ev(1, "add", 400, raw=raw)])
    assert movcheck(monkeypatch, "replay", str(tmp_path / "t.jsonl")) == 2
    assert "line 2: raw record does not match" in capsys.readouterr().err


def test_missing_trace_exit_3(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert movcheck(monkeypatch, "replay", str(tmp_path / "nope.jsonl")) == 3


def test_read_trace_without_summary_still_reads() -> None:
    header = json.dumps({"movcheck_trace": 1, "release": "r", "sources": ["poll"], "attach_points": [],
                         "state": {"release": "r", "block_size": 1 << 27, "auto_online": "offline",
                                   "online_policy": "contig-zones", "auto_movable_ratio": 301,
                                   "auto_movable_numa_aware": True, "movable_node": False,
                                   "blocks": {}, "zones": []}})
    h, lines, summary = read_trace(iter([header]), "x")
    assert h.sources == ("poll",) and lines == [] and summary is None
    with pytest.raises(ParseError, match="x: line 1: snapshot state malformed"):
        read_trace(iter([header.replace('"block_size": 134217728', '"block_size": "z"')]), "x")


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_replay_of_a_real_guest_trace(path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """A trace recorded by watch in a real guest replays to the verdicts recorded in it."""
    code = movcheck(monkeypatch, "replay", str(path))
    out = capsys.readouterr()
    assert "differ from the recorded" in out.err and " 0 verdict(s) differ" in out.err
    assert code == 0


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/sys/devices/system/memory"),
                    reason="needs root and a kernel with memory hotplug sysfs")
def test_watch_here_then_replay(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "here.jsonl"
    assert movcheck(monkeypatch, "watch", "--duration", "0.5", "-o", str(trace)) == 0
    err = capsys.readouterr().err
    if not os.path.exists("/sys/bus/event_source/devices/kprobe"):
        assert sum("no kprobes" in line for line in err.splitlines()) == 1
    assert movcheck(monkeypatch, "replay", str(trace)) == 0
    header = json.loads(trace.read_text().splitlines()[0])
    assert header["sources"] and header["state"]["blocks"]
