"""No command reads a memory block's ``online`` file where its ``state`` is there.

On a live kernel that read takes the block's device lock (drivers/base/core.c online_show),
which ``echo offline > state`` holds while mm/memory_hotplug.c offline_pages retries, for as
long as a page will not migrate: under churn in the 7.x lab guest, ``check`` and ``plan``
waited there past every timeout. Here each ``online`` of a real recording is a FIFO, whose
open blocks the same way until a writer comes: a command that opens one never ends.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from probes.root import unpack_recording

REPO = Path(__file__).resolve().parents[1]
RECORDING = REPO / "recordings" / "6.12" / "hp_node2_runtime.tar.gz"
COMMANDS = (["show"], ["srat"], ["plan"], ["check"], ["audit", "--json"], ["map"])


def _run(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "observer.cli", *args, "--root", str(root)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The recording as it is, and with every ``memoryN/online`` a FIFO nobody writes."""
    # one folder name: the audit and map name the host after it
    plain, fifos = (tmp_path_factory.mktemp(kind) / "host" for kind in ("plain", "fifos"))
    for tree in (plain, fifos):
        tree.mkdir()
        unpack_recording(str(RECORDING), str(tree))
    onlines = sorted((fifos / "sys/devices/system/memory").glob("memory*/online"))
    assert len(onlines) > 40  # every block of the capture has one
    for f in onlines:
        f.unlink()
        os.mkfifo(f)
    return plain, fifos


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_command_never_opens_online(trees: tuple[Path, Path], args: list[str]) -> None:
    plain, fifos = trees
    expected = _run(args, plain)
    try:
        got = _run(args, fifos)
    except subprocess.TimeoutExpired:
        pytest.fail(f"movcheck {' '.join(args)} opened a memoryN/online and waited on it")
    same = [(p.returncode, [ln for ln in p.stdout.splitlines() if '"audited_at"' not in ln]) for p in (got, expected)]
    assert same[0] == same[1]
    assert expected.returncode in (0, 1)


def test_snapshot_never_opens_online(trees: tuple[Path, Path], tmp_path: Path) -> None:
    _, fifos = trees
    try:
        got = _run(["snapshot", "-o", str(tmp_path / "s.tar.gz")], fifos)
    except subprocess.TimeoutExpired:
        pytest.fail("movcheck snapshot opened a memoryN/online and waited on it")
    assert got.returncode == 0, got.stderr
    assert "online" not in got.stderr
