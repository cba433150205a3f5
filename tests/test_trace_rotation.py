"""``movcheck watch --rotate-size``: a real guest's trace written through the rotating trace file
splits into files that each replay on their own, and together print what the whole trace printed."""
from __future__ import annotations

from pathlib import Path

import pytest

from observer import cli
from observer.watch.trace import TraceFile, read_trace
from observer.watch.live import Checker

GUEST = Path(__file__).parent / "data" / "watch" / "guest-6.12.95+deb12-amd64.jsonl"


def rewrite(path: Path, max_bytes: int, keep: int) -> TraceFile:
    """Feed the guest trace's events through a TraceFile as ``movcheck watch`` does."""
    with open(GUEST, encoding="utf-8") as f:
        header, lines, summary = read_trace(iter(f), str(GUEST))
    checker = Checker(header.state, header.sources[0])
    out = TraceFile(str(path), max_bytes, keep)
    out.start(header)
    for line in lines:
        out.event(line.observation, checker.check(line.observation), checker.state)
    out.summary(summary or {})
    out.close()
    return out


def replay(path: Path, capsys) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    code = cli.main(["replay", str(path)])
    return code, capsys.readouterr().out.splitlines()


def test_every_rotated_file_replays_and_together_they_print_the_whole(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    whole_code, whole = replay(GUEST, capsys)
    trace = tmp_path / "watch.jsonl"
    out = rewrite(trace, 16 * 1024, keep=100)
    files = [trace.with_name(f"watch.jsonl.{n}") for n in range(out.rotations, 0, -1)] + [trace]
    assert out.rotations >= 5 and all(f.exists() for f in files)
    assert not trace.with_name(f"watch.jsonl.{out.rotations + 1}").exists()
    printed: list[str] = []
    for f in files:
        code, lines = replay(f, capsys)
        assert code == whole_code == 0, f
        printed += lines
        assert f.stat().st_size < 16 * 1024 + 4096  # rotated at the first event past the size
    assert printed == whole


def test_keep_bounds_the_old_files(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "watch.jsonl"
    out = rewrite(trace, 16 * 1024, keep=2)
    assert out.rotations >= 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watch.jsonl", "watch.jsonl.1", "watch.jsonl.2"]
    _, whole = replay(GUEST, capsys)
    tail = replay(trace.with_name("watch.jsonl.2"), capsys)[1] + replay(trace.with_name("watch.jsonl.1"), capsys)[1] \
        + replay(trace, capsys)[1]
    assert whole[-len(tail):] == tail and len(tail) < len(whole)


@pytest.mark.parametrize("argv, message", [
    (["--rotate-size", "10M"], "give one with -o TRACE"),
    (["-o", "t.jsonl", "--rotate-size", "10Q"], "'10Q' is not a size"),
    (["-o", "t.jsonl", "--rotate-size", "1M", "--rotate-keep", "0"], "'0' is not a count"),
])
def test_bad_rotation_options_exit_2(argv, message, capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        code = cli.main(["watch", *argv])
    except SystemExit as exc:  # argparse: a usage error
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err
