"""``--root FILE`` and sosreports: ``check`` on a boot log alone, in every form it is handed over in.

The logs are the lab's real ones (recordings/*/*.tar.gz, var/log/dmesg inside) and
tests/data/bootlog; the forms are made as the real tools print them (tests/logforms.py).
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import lzma
import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from observer.cli import main
from probes.root import unpack_recording
from tests.logforms import FORMS, journal, quote, wrap

ROOT = Path(__file__).parent.parent
CAPTURES = sorted((ROOT / "recordings").glob("*/*.tar.gz"))
DATA_LOGS = sorted((ROOT / "tests/data/bootlog").glob("*.dmesg"))
#: numa=fake is not modelled: check says so by disagreeing (exit 1), in every form alike.
FAKE_NUMA = {p for p in DATA_LOGS if "numa-fake" in p.name}
#: One recording per series for the forms (every recording is checked in its plain form).
PER_SERIES = [next(c for c in CAPTURES if c.parent == s and c.name == "hp_node2_movable_node.tar.gz")
              for s in sorted({c.parent for c in CAPTURES})
              if (s / "hp_node2_movable_node.tar.gz").exists()]


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name.split('.tar')[0].removesuffix('.dmesg')}"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _log_of(source: Path) -> str:
    if source.suffix == ".dmesg":
        return source.read_text()
    with tarfile.open(source) as tar:
        member = tar.extractfile("var/log/dmesg")
        assert member is not None
        return member.read().decode()


def _handed(tmp: Path, text: str, name: str = "boot.log") -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def _comparable(out: str) -> dict[str, object]:
    """check --json without where each kernel line was found (file, line, spacing differ by form)."""
    got = json.loads(out)
    for m in got["mismatches"]:
        m.pop("kernel_line")
    return got


@pytest.mark.parametrize("cap", CAPTURES, ids=_id)
def test_check_agrees_on_every_lab_boot_log(cap: Path, tmp_path: Path) -> None:
    code, out, err = _run("check", "--root", _handed(tmp_path, _log_of(cap)))
    assert code == 0, out + err
    assert "input: boot log (dmesg)" in err and "agree: the layout matches the prediction" in out


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("source", PER_SERIES + DATA_LOGS, ids=_id)
def test_every_form_gives_the_result_of_the_plain_log(source: Path, form: str, tmp_path: Path) -> None:
    text = _log_of(source)
    transform, name = FORMS[form]
    code0, plain, _ = _run("check", "--json", "--root", _handed(tmp_path, text, "plain.dmesg"))
    code, out, err = _run("check", "--json", "--root", _handed(tmp_path, transform(text)))
    assert (code, _comparable(out)) == (code0, _comparable(plain))
    assert code == (1 if source in FAKE_NUMA else 0)
    assert f"movcheck check: input: boot log ({name}" in err and err.count("\n") == 1


def test_the_last_boot_of_a_journal_is_checked(tmp_path: Path) -> None:
    first, last = (_log_of(p) for p in (DATA_LOGS[1], PER_SERIES[0]))
    code, out, err = _run("check", "--root", _handed(tmp_path, journal(first, boot_id="a" * 32)
                                                      + journal(last, boot_id="b" * 32)))
    assert code == 0, out + err
    assert "input: boot log (journalctl -k export, 2 boots; the last one used)" in err


def test_a_difference_names_node_zone_prediction_kernel_line_and_rule(tmp_path: Path) -> None:
    text = _log_of(PER_SERIES[0]).replace("  Node 2: 0x0000000140000000", "  Node 2: 0x0000000180000000")
    handed = quote(wrap(text, 72))
    path = _handed(tmp_path, handed, "mail.txt")
    code, out, err = _run("check", "--root", path)
    assert code == 1, out + err
    line = next(ln for ln in out.splitlines() if ln.startswith("node 2 zone Movable: start "))
    n = int(re.search(r"mail\.txt line (\d+): ", line).group(1))  # type: ignore[union-attr]
    assert handed.splitlines()[n - 1] == "> [    0.000000]   Node 2: 0x0000000180000000"  # its line in the mail
    assert "predicted pfn 0x140000, kernel pfn 0x180000" in line and "(rule movable-node: " in line
    assert out.rstrip().endswith("difference(s)")


@pytest.mark.skipif(not any(c.parent.name == "5.10" for c in CAPTURES), reason="no 5.10 recordings yet")
def test_page_counts_of_older_kernels_are_compared(tmp_path: Path) -> None:
    cap = next(c for c in CAPTURES if c.parent.name == "5.10" and c.name == "hp_node2.tar.gz")
    text = _log_of(cap)
    m = re.search(r"  (\w+) zone: (\d+) pages, LIFO batch", text)
    assert m is not None
    changed = text.replace(m.group(0), f"  {m.group(1)} zone: {int(m.group(2)) - 1} pages, LIFO batch")
    code, out, _ = _run("check", "--root", _handed(tmp_path, changed))
    assert code == 1
    assert re.search(rf"zone {m.group(1)}: present predicted {m.group(2)}, kernel {int(m.group(2)) - 1} "
                     r"\[\S*boot\.log line \d+: .*LIFO batch", out)


def test_a_log_without_the_zone_lines_cannot_tell_and_says_which(tmp_path: Path) -> None:
    text = _log_of(PER_SERIES[0])
    kept = [ln for ln in text.splitlines() if not re.search(
        r"Zone ranges|^\S+\s+(DMA|DMA32|Normal|Device)\s|Early memory node|\s+node\s+\d+: \[mem", ln)]
    code, _, err = _run("check", "--root", _handed(tmp_path, "\n".join(kept) + "\n"))
    assert code == 3
    assert "the boot log lacks the kernel's 'Zone ranges:', 'Early memory node ranges' lines" in err


def test_a_rotated_log_cannot_tell_and_says_why(tmp_path: Path) -> None:
    lines = _log_of(PER_SERIES[0]).splitlines(True)
    first = next(i for i, ln in enumerate(lines) if not ln.startswith("[    0.000000]"))
    code, _, err = _run("check", "--root", _handed(tmp_path, "".join(lines[first:])))
    assert code == 3
    assert err.splitlines()[-1].startswith("movcheck check: cannot tell: the boot log lacks the kernel's "
                                          "'Linux version', 'Command line', 'BIOS-e820', ")
    assert "ring buffer rotated" in err and err.count("\n") == 2


@pytest.mark.parametrize("data, problem", [
    (b"", "empty file"), (b"\x7fELF\x02\x01\x01\0" * 64, "binary data"),
    (b"Subject: lunch\n\nPizza on Friday?\n", "no line a Linux kernel prints")])
@pytest.mark.parametrize("command", ["check", "plan", "audit", "show"])
def test_what_is_no_boot_log_is_one_line_and_exit_2(command: str, data: bytes, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "handed.txt"
    path.write_bytes(data)
    code, out, err = _run(command, "--root", str(path))
    assert (code, out) == (2, "")
    assert err == f"movcheck {command}: {path}: {problem}" + err.split(problem, 1)[1]
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_line_the_kernel_cannot_have_written_is_bad_input_at_its_line_in_the_file(tmp_path: Path) -> None:
    text = journal(_log_of(PER_SERIES[0]))
    handed = text.replace("] usable\n", "] weird\n", 1)
    n = handed.splitlines().index(next(ln for ln in handed.splitlines() if ln.endswith("] weird")))
    path = _handed(tmp_path, handed)
    code, out, err = _run("check", "--root", path)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == f"movcheck check: {path}: malformed: line {n + 1}: unknown e820 type 'weird'"


def test_plan_explain_on_a_wrapped_journal_finds_no_divergence(tmp_path: Path) -> None:
    code, out, err = _run("plan", "--explain", "--root", _handed(tmp_path, wrap(journal(_log_of(PER_SERIES[0])), 80)))
    assert code == 0 and "journalctl -k export" in err
    assert out.rstrip().endswith("no divergence from the kernel's zone lines")


def _sosreport(cap: Path, tmp: Path, zoneinfo: bool) -> Path:
    """A sosreport as sos lays one out: its copies of proc/ and sys/, a rotated dmesg (sos runs
    long after boot), the journal of this boot with every program's lines."""
    rec = tmp / "rec"
    rec.mkdir()
    unpack_recording(str(cap), str(rec))
    sos = tmp / "sosreport-labhost-2026-12-02-xkcdabc"
    for rel in ["proc/cmdline", "proc/meminfo", "proc/iomem", "sys/firmware/acpi/tables/SRAT"] + (
            ["proc/zoneinfo"] if zoneinfo else []):
        (sos / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(rec / rel, sos / rel)
    for node in (rec / "sys/devices/system/node").glob("node*"):
        (sos / node.relative_to(rec)).mkdir(parents=True)
        shutil.copy(node / "meminfo", sos / node.relative_to(rec) / "meminfo")
    text = (rec / "var/log/dmesg").read_text()
    (sos / "sos_commands/kernel").mkdir(parents=True)
    (sos / "sos_commands/kernel/dmesg").write_text("".join(text.splitlines(True)[300:]))
    (sos / "sos_commands/logs").mkdir(parents=True)
    lines = journal(text).splitlines(True)
    lines.insert(5, "Dec 02 04:00:42 labhost systemd[1]: Started Journal Service.\n")
    (sos / "sos_commands/logs/journalctl_--no-pager_--boot").write_text("".join(lines))
    (sos / "version.txt").write_text("sosreport: 4.8.0\n")
    return sos


@pytest.mark.parametrize("packed", ["dir", "tar.xz", "tar.gz"])
def test_a_sosreport_is_read_with_the_best_log_it_holds(packed: str, tmp_path: Path) -> None:
    sos = _sosreport(PER_SERIES[0], tmp_path, zoneinfo=False)
    arg = sos
    if packed != "dir":
        arg = tmp_path / f"{sos.name}.{packed}"
        with tarfile.open(arg, "w:" + packed.split(".")[1]) as tar:
            tar.add(sos, arcname=sos.name)
    code, out, err = _run("check", "--root", str(arg))
    assert code == 0, out + err
    assert (f"input: sosreport {sos.name}; boot log (journalctl -k export) from "
            "sos_commands/logs/journalctl_--no-pager_--boot") in err
    code, out, _ = _run("plan", "--root", str(arg))
    assert code == 0 and "movable-node" in out  # the command line from the sosreport's proc/cmdline


def test_a_sosreport_with_zoneinfo_is_checked_against_it(tmp_path: Path) -> None:
    sos = _sosreport(PER_SERIES[0], tmp_path, zoneinfo=True)
    code, out, err = _run("check", "--root", str(sos))
    assert code == 0, out + err
    assert "seen: the boot log's zone lines" not in out and "memory blocks not compared" in out
    assert sorted(os.listdir(sos)) == ["proc", "sos_commands", "sys", "version.txt"]  # nothing written into it


def test_a_hostile_sosreport_archive_is_refused(tmp_path: Path) -> None:
    arg = tmp_path / "sosreport-evil.tar.xz"
    with tarfile.open(arg, "w:xz") as tar:
        info = tarfile.TarInfo("sosreport-evil/../../escape")
        data = b"x"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    code, _, err = _run("check", "--root", str(arg))
    assert code == 2 and "leaves the recording; refused" in err


@pytest.mark.parametrize("suffix", ["gz", "xz"])
def test_a_compressed_log_is_read(suffix: str, tmp_path: Path) -> None:
    pack = {"gz": gzip.compress, "xz": lzma.compress}[suffix]
    path = tmp_path / f"kern.log.{suffix}"
    path.write_bytes(pack(journal(_log_of(PER_SERIES[0])).encode()))
    code, out, err = _run("check", "--root", str(path))
    assert code == 0 and "input: boot log (journalctl -k export)" in err
