"""The model against every real-kernel capture in recordings/ (QEMU boots of Debian 6.1 and 6.12).

For each capture: ``plan`` with the kernel's zone outputs removed equals the real
/proc/zoneinfo exactly; ``check`` agrees (exit 0) and disagrees (exit 1) once the command
line is edited so the real kernel would build another layout; and for scenario pairs that
differ only in the command line, ``plan --cmdline`` from one predicts the other's layout.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tomllib
from pathlib import Path

import pytest

from observer.cli import main
from probes.root import unpack_recording
from probes.zoneinfo import parse_zoneinfo

RECORDINGS = Path(os.environ.get("MOVCHECK_RECORDINGS", Path(__file__).resolve().parent.parent / "recordings"))
CAPTURES = sorted(RECORDINGS.glob("*/*.tar.gz"))
ZONE_LINES = re.compile(r"Zone ranges|^\s+(DMA|DMA32|Normal|Movable|Device)\s|Movable zone start|^\s+Node \d+: 0x|"
                        r"Early memory node ranges|^\s+node\s+\d+: \[mem|Initmem setup|On node \d+ zone")


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name[:-7]}"


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.fixture
def tree(request, tmp_path: Path) -> Path:
    (tmp_path / "t").mkdir()
    unpack_recording(str(request.param), str(tmp_path / "t"))
    return tmp_path / "t"


def _strip(tree: Path) -> None:
    """Remove what a prediction must not read: zoneinfo, valid_zones, node meminfo,
    has_normal_memory and the boot log's zone lines."""
    (tree / "proc/zoneinfo").unlink(missing_ok=True)
    for p in tree.glob("sys/devices/system/memory/memory*/valid_zones"):
        p.unlink()
    for p in tree.glob("sys/devices/system/node/node*/meminfo"):
        p.unlink()
    (tree / "sys/devices/system/node/has_normal_memory").unlink(missing_ok=True)
    log = tree / "var/log/dmesg"
    if log.exists():
        kept = [ln for ln in log.read_text().splitlines(keepends=True)
                if not ZONE_LINES.search(re.sub(r"^\[[^\]]*\] ?", "", ln))]
        log.write_text("".join(kept))


def _real(tree: Path) -> dict:
    zi = parse_zoneinfo((tree / "proc/zoneinfo").read_text())
    return {(z.node, z.name): (z.start_pfn, z.spanned, z.present) for z in zi.zones if z.spanned or z.present}


def _hand_onlined_nodes(tree: Path) -> set[int]:
    """Nodes with hot-added blocks a script onlined by hand (auto-online off): their online
    type is no input, so their zones are excluded from the exact comparison (check takes them as seen)."""
    auto = tree / "sys/devices/system/memory/auto_online_blocks"
    steps = tree / "lab/scenario.toml"
    if not (auto.exists() and auto.read_text().strip() == "offline" and steps.exists()):
        return set()
    sc = tomllib.loads(steps.read_text())
    if not any(s.get("action") == "write" and str(s.get("value", "")).startswith("online")
               for s in sc.get("steps", [])):
        return set()  # hot-added blocks left offline: the layout is fully predicted
    return {int(s["node"]) for s in sc.get("steps", []) if s.get("action") == "hotadd" and "node" in s}


def _predicted(out: str) -> dict:
    data = json.loads(out)
    return {(z["node"], z["zone"]): (z["start_pfn"] if z["present"] else None, z["spanned"], z["present"])
            for z in data["zones"]}


def _comparable(real: dict, skip: set[int]) -> dict:
    return {k: (v[0] if v[2] else None, v[1], v[2]) for k, v in real.items() if k[0] not in skip}


@pytest.mark.parametrize("tree", CAPTURES, ids=_id, indirect=True)
def test_plan_equals_real_zoneinfo(tree: Path):
    real = _real(tree)
    skip = _hand_onlined_nodes(tree)
    _strip(tree)
    code, out = _run("plan", "--root", str(tree), "--json")
    assert code == 0
    pred = {k: v for k, v in _predicted(out).items() if k[0] not in skip}
    assert pred == _comparable(real, skip)


@pytest.mark.parametrize("tree", CAPTURES, ids=_id, indirect=True)
def test_check_agrees_then_disagrees_on_edited_cmdline(tree: Path):
    code, out = _run("check", "--root", str(tree))
    assert code == 0, out
    cmdline = (tree / "proc/cmdline").read_text().strip()
    words = cmdline.split()
    core = [w for w in words if w == "movable_node" or w.startswith(("kernelcore=", "movablecore="))]
    # Drop every zone option and ask for a quarter of memory as Movable: a layout no capture has.
    edited = " ".join([w for w in words if w not in core] + ["movablecore=25%"])
    (tree / "proc/cmdline").write_text(edited + "\n")
    log = tree / "var/log/dmesg"
    if log.exists():
        log.write_text(log.read_text().replace(cmdline, edited))
    code, out = _run("check", "--root", str(tree))
    assert code == 1, f"edited command line {edited!r} still agrees:\n{out}"


def _pairs() -> list[tuple[Path, Path]]:
    out = []
    for cap in CAPTURES:
        scen = Path(__file__).parent / "lab/scenarios" / (cap.name[:-7] + ".toml")
        if not scen.exists():
            continue
        pair = tomllib.loads(scen.read_text()).get("pair")
        other = cap.parent / f"{pair}.tar.gz" if pair else None
        if other is not None and other.exists():
            out += [p for p in ((cap, other), (other, cap)) if p not in out]
    return out


@pytest.mark.parametrize("src,dst", _pairs(), ids=lambda p: _id(p))
def test_plan_cmdline_predicts_the_pair(src: Path, dst: Path, tmp_path: Path):
    for name, cap in (("src", src), ("dst", dst)):
        (tmp_path / name).mkdir()
        unpack_recording(str(cap), str(tmp_path / name))
    target_line = (tmp_path / "dst/proc/cmdline").read_text().strip()
    skip = _hand_onlined_nodes(tmp_path / "dst") | _hand_onlined_nodes(tmp_path / "src")
    real = _comparable(_real(tmp_path / "dst"), skip)
    _strip(tmp_path / "src")
    code, out = _run("plan", "--root", str(tmp_path / "src"), "--json", "--cmdline", target_line)
    assert code == 0
    assert {k: v for k, v in _predicted(out).items() if k[0] not in skip} == real
