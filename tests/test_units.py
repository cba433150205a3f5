"""The systemd units in contrib/systemd pass ``systemd-analyze verify`` (their man pages found
too), and their command lines do what they say on a recording."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from observer.cli import build_parser
from tests.test_fleet_prometheus import REPO, SERIES, promtool_check, samples, tool

UNITS = REPO / "contrib" / "systemd"
INSTALLED = "/usr/local/bin/movcheck"  # where `make install` links the command


def exec_start(unit: str) -> list[str]:
    lines = [ln for ln in (UNITS / unit).read_text().splitlines() if ln.startswith("ExecStart=")]
    assert len(lines) == 1, unit
    argv = shlex.split(lines[0][len("ExecStart="):])
    assert argv[0] == INSTALLED, unit
    return argv


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    movcheck = Path(sys.executable).parent / "movcheck"  # the venv's console script
    assert os.access(movcheck, os.X_OK), f"{movcheck}: the console script is not installed (make install)"
    for unit in sorted(UNITS.iterdir()):
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(movcheck)))
    proc = subprocess.run([tool("systemd-analyze"), "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, env=dict(os.environ, MANPATH=str(REPO / "man")))
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["movcheck-audit.service", "movcheck-audit.timer", "movcheck-watch.service"]


def test_audit_unit_refreshes_the_textfile_atomically(tmp_path: Path) -> None:
    argv = exec_start("movcheck-audit.service")
    target = Path(argv[argv.index("-o") + 1])
    unit = (UNITS / "movcheck-audit.service").read_text()
    assert f"ReadWritePaths=-{target.parent}\n" in unit  # the only place it may write
    here = tmp_path / target.name
    here.write_text("stale\n")
    args = build_parser(argv[1:]).parse_args(argv[1:])
    assert (args.command, args.format, args.root) == ("audit", "prometheus", "/")
    run = [sys.executable, "-m", "observer.cli", *argv[1:], "--root", str(SERIES / "hp_node2.tar.gz")]
    run[run.index("-o") + 1] = str(here)  # the unit's command line, on a recording, into tmp
    proc = subprocess.run(run, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    text = here.read_text()
    promtool_check(text)
    assert samples(text)[("movcheck_node_hotpluggable", (("node", "2"),))] == 1
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # renamed over, nothing left behind


def test_watch_unit_rotates_its_trace_and_logs_to_the_journal() -> None:
    argv = exec_start("movcheck-watch.service")
    args = build_parser(argv[1:]).parse_args(argv[1:])
    assert args.command == "watch" and args.output.startswith("/var/log/movcheck/")
    assert args.rotate_size == 10 << 20 and args.rotate_keep == 5
    unit = (UNITS / "movcheck-watch.service").read_text()
    assert "LogsDirectory=movcheck\n" in unit and "StandardOutput=journal\n" in unit
