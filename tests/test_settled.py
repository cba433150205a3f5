"""A live machine whose memory changes while it is read: the reading is made again, or given up.

The machine is a lab recording (Debian 6.12, a DIMM hot-added at run time) unpacked into a
directory that is read as a live root; the kernel's uevent counter is a file the test moves
the way a hot-remove would, while the command runs, and a block directory vanishes with it.
"""
from __future__ import annotations

import argparse
import shutil
import tarfile
from pathlib import Path

import pytest

from observer.cli import build_parser, main
from observer.commands import audit as audit_cmd
from observer.commands import show as show_cmd
from observer.errors import EXIT_CANNOT_TELL
from observer.settled import run_settled
from probes import snapshot
from probes.generation import SEQNUM, TRIES
from probes.root import Root
from tests.lab.recording import RECORDINGS

RECORDING = RECORDINGS / "6.12" / "hp_node2_runtime.tar.gz"


def live_copy(tmp_path: Path) -> Root:
    """The recording unpacked, with a uevent counter, read the way a live root is read."""
    with tarfile.open(RECORDING) as tar:
        tar.extractall(tmp_path / "m")  # a recording of this checkout
    (tmp_path / "m" / SEQNUM).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "m" / SEQNUM).write_text("100\n")
    root = Root(tmp_path / "m")
    root.live = True
    return root


def churning(root: Root, run, changes: int):  # type: ignore[no-untyped-def]
    """``run``, with a hot-remove of the highest memory block (its directory gone and the
    uevent counter moved) during each of its first ``changes`` calls."""
    calls = []

    def wrapped(args: argparse.Namespace, r: Root) -> int:
        calls.append(1)
        if len(calls) <= changes:
            mem = Path(root.prefix) / "sys/devices/system/memory"
            last = max(mem.glob("memory[0-9]*"), key=lambda p: int(p.name[6:]))
            code = run(args, r)
            shutil.rmtree(last)
            seq = Path(root.prefix) / SEQNUM
            seq.write_text(f"{int(seq.read_text()) + 2}\n")
            return code
        return run(args, r)
    return wrapped, calls


def args_of(*argv: str) -> argparse.Namespace:
    """The command line as movcheck parses it."""
    return build_parser(argv).parse_args(argv)


def test_a_change_during_the_read_is_read_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = live_copy(tmp_path)
    assert show_cmd.run(args_of("show", "--json"), root) == 0
    before = capsys.readouterr().out
    run, calls = churning(root, show_cmd.run, changes=1)
    assert run_settled(run, args_of("show", "--json"), root, "movcheck show") == 0
    out, err = capsys.readouterr()
    assert len(calls) == 2 and "read again (2 tries)" in err
    root.forget()
    assert show_cmd.run(args_of("show", "--json"), root) == 0
    assert capsys.readouterr().out == out != before  # what was printed is the machine after the change


def test_memory_that_never_holds_still_gives_no_verdict(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = live_copy(tmp_path)
    run, calls = churning(root, audit_cmd.run, changes=TRIES)
    assert run_settled(run, args_of("audit", "--json"), root, "movcheck audit") == EXIT_CANNOT_TELL
    out, err = capsys.readouterr()
    assert len(calls) == TRIES and out == ""
    assert err.strip().endswith("Run again when hotplug has settled") and "uevent_seqnum 104 -> 106" in err


@pytest.mark.parametrize("changes,consistent", [(1, True), (TRIES, False)])
def test_snapshot_says_whether_it_held_still(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], changes: int,
                                             consistent: bool) -> None:
    root = live_copy(tmp_path)
    collect = snapshot.collect
    run, calls = churning(root, lambda _a, r: collect(r), changes)  # type: ignore[arg-type]
    monkeypatch.setattr(snapshot, "collect", lambda r: run(None, r))
    result = snapshot.write_snapshot(root, str(tmp_path / "snap"))
    notes = tmp_path / "snap" / snapshot.NOTES
    assert (result.consistent, result.tries) == (consistent, changes + consistent)
    assert notes.exists() is not consistent
    if not consistent:
        assert notes.read_text().startswith("inconsistent: memory changed while it was read, 3 times")
        assert main(["show", "--root", str(tmp_path / "snap")]) == 0  # replayed, it says so once
        err = capsys.readouterr().err
        assert err.count("movcheck show: snapshot: inconsistent: memory changed") == 1, err
