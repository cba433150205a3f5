"""Every command on every kernel series' recordings, whole and corrupted: exit 0-3, never a crash.

Exit 1 means findings, so a crash must never end with it (nor with a traceback): an unexpected
exception ends with 4, which no run here may reach. Errors are one line on stderr naming the file.
"""
from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import Callable

import pytest

from observer.cli import main
from tests.lab.recording import RECORDINGS, split_series_dir
from tests.lab.scenario import ALL_KERNELS

#: One recording per series whose corruptions are tried: NUMA, an injected SRAT, hot-plug.
CORRUPTED_BASE = "hp_node2_movable_node"
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("show",), ("show", "--json"), ("srat",), ("plan",), ("plan", "--json"), ("plan", "--explain"),
    ("check",), ("audit", "--json"), ("audit", "--format", "prometheus"), ("map",))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _assert_clean(code: int, err: str, what: str) -> None:
    assert code in (0, 1, 2, 3), f"{what}: exit {code}: {err.strip()}"
    assert "Traceback" not in err, what
    if code in (2, 3):
        assert err.count("\n") == 1, f"{what}: error is not one line: {err!r}"


#: What the other recording-wide tests (test_model_recordings, test_audit_recordings) do not run.
NOT_RUN_ELSEWHERE: tuple[tuple[str, ...], ...] = (("show",), ("srat",), ("plan", "--explain"), ("audit",))
ALL_RECORDINGS = sorted(RECORDINGS.glob("*/*.tar.gz"))


@pytest.mark.parametrize("path", ALL_RECORDINGS, ids=[f"{p.parent.name}/{p.name[:-7]}" for p in ALL_RECORDINGS])
def test_other_commands_on_every_recording(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in NOT_RUN_ELSEWHERE:
        code, _, err = run(capsys, *cmd, "--root", str(path))
        _assert_clean(code, err, f"{' '.join(cmd)} on {path}")
        # Real boots the model predicts: nothing to find fault with; `srat` of a boot with no SRAT
        # is 'cannot tell'.
        assert code == 0 or (cmd[0] == "srat" and code == 3), f"{cmd} on {path}: exit {code}: {err}"


def test_every_series_recorded() -> None:
    assert {split_series_dir(p.parent.name)[0] for p in ALL_RECORDINGS} == set(ALL_KERNELS)


def _edit(rel: str, fn: Callable[[bytes], bytes | None]) -> Callable[[Path], None]:
    """A corruption: ``fn`` of the file's bytes (None removes it)."""
    def apply(tree: Path) -> None:
        path = tree / rel
        new = fn(path.read_bytes())
        if new is None:
            path.unlink()
        else:
            path.write_bytes(new)
    return apply


def _log_lines(fn: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    return _edit("var/log/dmesg", lambda b: "".join(fn(b.decode().splitlines(True))).encode())


def _unknown_e820(lines: list[str]) -> list[str]:
    return [ln.replace("]  System RAM", "]  fancy RAM").replace("] usable", "] fancy RAM", 1) for ln in lines]


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "srat-truncated": _edit("sys/firmware/acpi/tables/SRAT", lambda b: b[:50]),
    "srat-bad-checksum": _edit("sys/firmware/acpi/tables/SRAT", lambda b: b[:9] + bytes([b[9] ^ 0xFF]) + b[10:]),
    "srat-missing": _edit("sys/firmware/acpi/tables/SRAT", lambda b: None),
    "zoneinfo-garbage": _edit("proc/zoneinfo", lambda b: b"Node 0, zone Normal\n  spanned lots\n"),
    "zoneinfo-missing": _edit("proc/zoneinfo", lambda b: None),
    "cmdline-garbage": _edit("proc/cmdline", lambda b: b"kernelcore=banana movablecore=%% mem=-1 \xff\xfe\n"),
    "iomem-garbage": _edit("proc/iomem", lambda b: b"zzzz-yyyy : Kernel code\n\x00"),
    "log-binary": _edit("var/log/dmesg", lambda b: bytes(range(256)) * 4),
    "log-missing": _edit("var/log/dmesg", lambda b: None),
    "log-unknown-e820-type": _log_lines(_unknown_e820),
    "log-second-half": _log_lines(lambda lines: lines[len(lines) // 2:]),
    "log-first-100-lines": _log_lines(lambda lines: lines[:100]),
    "log-range-backwards": _log_lines(lambda lines: [ln.replace("Node 2 PXM 2 [mem 0x140000000-",
                                                                "Node 2 PXM 2 [mem 0x1f40000000-") for ln in lines]),
    "blocks-missing": lambda tree: shutil.rmtree(tree / "sys/devices/system/memory"),
    "block-state-garbage": _edit("sys/devices/system/memory/memory40/state", lambda b: b"sideways\n"),
    "release-missing": _edit("proc/sys/kernel/osrelease", lambda b: None),
}


_UNPACKED: dict[str, Path] = {}


@pytest.fixture
def base(series: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A private copy of the series' base recording (unpacked once per series)."""
    if series not in _UNPACKED:
        tree = tmp_path_factory.mktemp(f"base-{series}")
        with tarfile.open(RECORDINGS / series / f"{CORRUPTED_BASE}.tar.gz") as tar:
            tar.extractall(tree)  # our own recordings
        _UNPACKED[series] = tree
    copy = tmp_path / "root"
    shutil.copytree(_UNPACKED[series], copy, symlinks=True)
    return copy


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
@pytest.mark.parametrize("series", ALL_KERNELS)
def test_every_command_on_corrupted_input(series: str, corruption: str, base: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    tree = base
    CORRUPTIONS[corruption](tree)
    for cmd in COMMANDS + (("snapshot", "-o", str(tmp_path / "snap")),):
        code, _, err = run(capsys, *cmd, "--root", str(tree))
        _assert_clean(code, err, f"{' '.join(cmd)} on {series} with {corruption}")
        if code == 1:  # findings only where the corruption changes a fact the checker compares
            assert cmd[0] in ("check", "audit", "map") and corruption in FACT_CHANGING, (cmd, corruption, err)
        if os.path.exists(tmp_path / "snap"):
            shutil.rmtree(tmp_path / "snap")


#: Corruptions that change a fact, after which a finding (exit 1) is a right answer.
FACT_CHANGING = {"cmdline-garbage", "log-range-backwards", "block-state-garbage"}


@pytest.mark.parametrize("series", ALL_KERNELS)
def test_unknown_log_line_names_file_and_line(series: str, base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = base
    if (tree / "sys/firmware/memmap").exists():  # else plan predicts from it, rightly
        shutil.rmtree(tree / "sys/firmware/memmap")
    CORRUPTIONS["log-unknown-e820-type"](tree)
    for cmd in ("check", "plan"):
        code, _, err = run(capsys, cmd, "--root", str(tree))
        assert code == 3, (cmd, err)
        assert "var/log/dmesg" in err and "line " in err and "unknown e820 type 'fancy RAM'" in err, err
