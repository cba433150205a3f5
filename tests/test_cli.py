"""The command line end to end: output, exit codes and one-line errors on bad input."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from observer.cli import main
from probes.srat import AcpiHeader, MemoryAffinity, ProcessorAffinity, Srat, encode_srat

LIVE = os.path.isdir("/sys/devices/system/memory") and os.geteuid() == 0


def movcheck(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command as a user would."""
    return subprocess.run([sys.executable, "-m", "observer.cli", *args], capture_output=True, text=True)


@pytest.fixture
def snap(tmp_path):
    """A snapshot of this machine, taken with ``movcheck snapshot``."""
    if not LIVE:
        pytest.skip("needs root on a Linux machine with memory blocks")
    out = tmp_path / "snap"
    assert movcheck("snapshot", "-o", str(out)).returncode == 0
    return out


def test_show_from_snapshot_matches_live(snap):
    live, replay = movcheck("show", "--json"), movcheck("show", "--json", "--root", str(snap))
    assert live.returncode == replay.returncode == 0
    assert json.loads(live.stdout) == json.loads(replay.stdout)
    human = movcheck("show", "--root", str(snap))
    assert "NODE ZONE" in human.stdout and max(map(len, human.stdout.splitlines()[2:])) <= 100


def test_snapshot_tar_replays_and_lsmem_reads_it(snap, tmp_path):
    tar = tmp_path / "rec.tar.gz"
    assert movcheck("snapshot", "-o", str(tar)).returncode == 0
    assert json.loads(movcheck("show", "--json", "--root", str(tar)).stdout)["zones"] == \
        json.loads(movcheck("show", "--json", "--root", str(snap)).stdout)["zones"]
    if shutil.which("lsmem"):
        cols = "RANGE,SIZE,STATE,BLOCK,NODE,ZONES"
        assert subprocess.run(["lsmem", "--sysroot", str(snap), "-o", cols], capture_output=True,
                              text=True).stdout == subprocess.run(["lsmem", "-o", cols], capture_output=True,
                                                                  text=True).stdout


def test_srat_human_and_json(tmp_path):
    srat = Srat(AcpiHeader("SRAT", 0, 3, 0, "BOCHS ", "BXPC    ", 1, "BXPC", 1), 1,
                (MemoryAffinity(0, 0, 0xA0000, 1), MemoryAffinity(1, 0x100000000, 0x40000000, 3)),
                (ProcessorAffinity(0, 0, True), ProcessorAffinity(1, 1, True)))
    path = tmp_path / "sys/firmware/acpi/tables"
    path.mkdir(parents=True)
    (path / "SRAT").write_bytes(encode_srat(srat))
    res = movcheck("srat", "--json", "--root", str(tmp_path))
    assert res.returncode == 0
    data = json.loads(res.stdout)
    assert data["memory"][1] == {"proximity_domain": 1, "base": 0x100000000, "length": 0x40000000,
                                 "enabled": True, "hotpluggable": True, "non_volatile": False, "flags": 3}
    assert [p["apic_id"] for p in data["processors"]] == [0, 1]
    human = movcheck("srat", "--root", str(tmp_path)).stdout
    assert "0x0000000100000000-0x000000013fffffff     1G  Enabled, Hot Pluggable" in human


@pytest.mark.parametrize("blob, problem", [
    (b"SRAT\x10\x00", "truncated"),
    (b"XXXX" + bytes(44), "signature"),
])
def test_corrupt_srat_is_one_line_exit_2(tmp_path, blob, problem):
    path = tmp_path / "sys/firmware/acpi/tables"
    path.mkdir(parents=True)
    (path / "SRAT").write_bytes(blob)
    res = movcheck("srat", "--root", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "sys/firmware/acpi/tables/SRAT" in res.stderr and problem in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_root_exit_3():
    res = movcheck("show", "--root", "/nonexistent/snapshot")
    assert res.returncode == 3 and res.stderr.count("\n") == 1 and "/nonexistent/snapshot" in res.stderr


def test_missing_srat_exit_3(tmp_path):
    res = movcheck("srat", "--root", str(tmp_path))
    assert res.returncode == 3 and "SRAT: absent" in res.stderr


def test_garbage_zoneinfo_exit_2(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/zoneinfo").write_text("Node 0, zone   Normal\n  spanned  lots\n")
    res = movcheck("show", "--root", str(tmp_path))
    assert res.returncode == 2 and "proc/zoneinfo" in res.stderr and res.stderr.count("\n") == 1


def test_hostile_recording_exit_2(tmp_path):
    tar = tmp_path / "evil.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        info = tarfile.TarInfo("../escaped")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    res = movcheck("show", "--root", str(tar))
    assert res.returncode == 2 and "leaves the recording" in res.stderr
    assert not (tmp_path.parent / "escaped").exists()


def test_snapshot_refuses_existing_output(tmp_path):
    res = movcheck("snapshot", "-o", str(tmp_path), "--root", str(tmp_path))
    assert res.returncode == 2 and "already exists" in res.stderr


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["show", "--bogus"])
    assert exc.value.code == 2



def test_command_help_table_matches_each_module():
    import importlib

    from observer.cli import COMMAND_HELP
    modules = {p.stem for p in (Path(__file__).parent.parent / "observer" / "commands").glob("*.py")} - {"__init__"}
    assert set(COMMAND_HELP) == modules
    for name, text in COMMAND_HELP.items():
        assert importlib.import_module(f"observer.commands.{name}").HELP == text, name


def test_help_lists_every_command_and_audit_imports_only_its_own():
    from observer.cli import COMMAND_HELP
    res = movcheck("--help")
    assert res.returncode == 0
    listed = {line.split()[0] for line in res.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert set(COMMAND_HELP) <= listed
    assert "say which memory can be hot-removed" in res.stdout
    code = ("import sys; from observer.cli import build_parser; build_parser(['audit', '--json']); "
            "print(sorted(m for m in sys.modules if m.startswith('observer.commands.')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "['observer.commands.audit']"


def test_internal_error_is_exit_4_one_line(monkeypatch, capsys):
    """A bug (an exception movcheck did not expect) never reads as findings (1)."""
    import observer.commands.show as show

    def broken(args, root):
        raise KeyError("zone")
    monkeypatch.setattr(show, "run", broken)
    monkeypatch.delenv("MOVCHECK_DEBUG", raising=False)
    assert main(["show", "--root", str(Path(__file__).parent / "data/vm-6.18.44.tar.gz")]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "test_cli.py" in err and "KeyError" in err
    assert "MOVCHECK_DEBUG=1" in err
    monkeypatch.setenv("MOVCHECK_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["show", "--root", str(Path(__file__).parent / "data/vm-6.18.44.tar.gz")])


def test_show_on_a_memory_only_sysroot(tmp_path, capsys):
    """As lsmem's own test dumps: only sys/devices/system/memory. The blocks are shown, zones are
    unknown (not empty), and the missing zoneinfo is named once."""
    with tarfile.open(Path(__file__).parents[1] / "recordings/7.x/hp_node2_movable_node.tar.gz") as tar:
        tar.extractall(tmp_path, members=[m for m in tar.getmembers()
                                          if m.name.startswith("sys/devices/system/memory")])
    assert main(["show", "--root", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "zones unknown" in out and "0x0000000140000000-0x00000001bfffffff    2G  online" in out
    assert err.count("proc/zoneinfo") == 1
    assert main(["show", "--json", "--root", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["zones"] is None


def test_version_prints_the_package_version_and_imports_no_command():
    import observer
    res = movcheck("--version")
    assert (res.returncode, res.stdout, res.stderr) == (0, f"movcheck {observer.__version__}\n", "")
    assert observer.__version__ == "0.1.0"
    code = ("import sys; from observer.cli import main; main(['--version']); "
            "print(sorted(m for m in sys.modules if m.startswith(('observer', 'probes', 'argparse'))))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.splitlines()[-1] == "['observer', 'observer.cli']"


def test_audit_leaves_the_garbage_collector_on(capsys):
    import gc
    assert gc.isenabled()
    rec = str(Path(__file__).parents[1] / "recordings/6.12/hp_node2_runtime.tar.gz")
    assert main(["audit", "--json", "--root", rec]) == 0
    assert gc.isenabled() and json.loads(capsys.readouterr().out)["blocks"]
