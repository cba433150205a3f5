"""The audit on every capture from a real kernel in recordings/ (Debian 6.1 and 6.12 under QEMU).

The oracle is the capture itself: a node is offlinable exactly when the real kernel put
all its present memory in ZONE_MOVABLE (proc/zoneinfo) and no boot allocation that is
never freed sits in it; it is removable when, in addition, the firmware marked all of
it hot-pluggable (the boot log's SRAT lines) or it was hot-added.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from observer.cli import main
from probes import bootlog_events as ev
from probes.bootlog import read_boot_log
from probes.memory_blocks import read_memory_blocks
from probes.root import open_root
from probes.zoneinfo import read_zoneinfo

RECORDINGS = sorted(Path(__file__).resolve().parents[1].glob("recordings/*/*.tar.gz"))
PINNED = {"kernel-image", "node-data", "reserved", "cma", "boot-allocations", "mixed-zones"}


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name.removesuffix('.tar.gz')}"


def test_there_are_recordings() -> None:
    assert RECORDINGS, "recordings/ holds no capture: run `make recordings`"


def _truth(path: Path) -> dict[int, dict[str, object]]:
    """Per node from the capture alone: present and Movable pages, and whether every block of the
    node lies in an SRAT hot-pluggable range or outside the boot e820 RAM (hot-added)."""
    with open_root(str(path)) as root:
        zi = read_zoneinfo(root).value
        log = read_boot_log(root).value
        mb = read_memory_blocks(root).value
    assert zi is not None and log is not None and mb is not None
    hp = [(e.start, e.end) for e in log.of(ev.SratMemory) if e.hotplug]
    ram = [(e.start, e.end) for e in (log.user_map or log.e820_map) if e.type == "usable"]
    out: dict[int, dict[str, object]] = {}
    for node in zi.nodes:
        zones = [z for z in zi.zones if z.node == node]
        blocks = [(b.number * mb.block_size, (b.number + 1) * mb.block_size) for b in mb.blocks if b.node == node]
        ejectable = bool(blocks) and all(
            any(lo <= start and end <= hi for lo, hi in hp) or not any(lo < end and start < hi for lo, hi in ram)
            for start, end in blocks)
        out[node] = {"present": sum(z.present for z in zones),
                     "movable": sum(z.present for z in zones if z.name == "Movable"), "ejectable": ejectable}
    return out


@pytest.mark.parametrize("path", RECORDINGS, ids=_id)
def test_node_verdicts_match_the_real_kernel(path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["audit", "--root", str(path), "--json", "--no-advice"]) == 0
    doc = json.loads(capsys.readouterr().out)
    truth = _truth(path)
    assert sorted(n["node"] for n in doc["nodes"]) == sorted(truth)
    for n in doc["nodes"]:
        t = truth[n["node"]]
        all_movable = bool(t["present"]) and t["movable"] == t["present"]
        codes = {r["code"] for r in n["reasons"]}
        if all_movable:
            assert n["offlinable"] is True or codes & PINNED, (n["node"], codes)
        else:
            assert n["offlinable"] is False, (n["node"], codes)
        assert n["removable"] is (n["offlinable"] is True and bool(t["ejectable"])), (n["node"], codes, t)
        if not t["present"]:
            assert "memoryless-node" in codes
    kernel_blocks = [b for b in doc["blocks"] if b["state"] == "online" and b["zones"] and b["zones"] != ["Movable"]]
    assert all(b["offlinable"] is False for b in kernel_blocks)


@pytest.mark.parametrize("path", RECORDINGS[:6], ids=_id)
def test_prometheus_and_map_on_real_captures(path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["audit", "--root", str(path), "--format", "prometheus"]) == 0
    families = {f.name: f for f in text_string_to_metric_families(capsys.readouterr().out)}
    assert {"movcheck_node_removable", "movcheck_memory_blocks", "movcheck_check_mismatches"} <= set(families)
    assert main(["map", "--root", str(path)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80 and "\x1b" not in out
