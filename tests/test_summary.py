"""``movcheck summary`` over audit JSON files and snapshots."""
from __future__ import annotations

import json

import pytest

from observer.audit.verdicts import audit
from observer.render.audit import audit_json
from observer.cli import main
from observer.fleet.machine import row_from_json
from probes.reading import ParseError
from tests.test_audit import machine, write_snapshot


def test_row_from_audit_json() -> None:
    row = row_from_json("x", audit_json(audit(machine()), "2026-01-01T00:00:00+00:00"))
    assert row.host == "lab" and row.nodes == (0, 1, 2) and row.removable == (2,)
    assert [n for n, _ in row.reasons] == [0, 1] and "kernel-zone" in row.reasons[0][1]
    assert row.reason_text() == "not-hotpluggable:0-1" and row.dimms == (1, 1)
    every = row.reason_text(every=True).split()
    assert every[:2] == ["not-hotpluggable:0-1", "kernel-zone:0-1"] and "kernel-image:0" in every
    assert "node-data:1" in every


def test_bad_json_is_refused() -> None:
    with pytest.raises(ParseError):
        row_from_json("x", {"hosts": []})
    with pytest.raises(ParseError):
        row_from_json("x", {"nodes": [{"node": "0"}]})


def test_cli_mixes_json_files_and_snapshots(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    snap = tmp_path / "hostb"
    write_snapshot(str(snap))
    doc = audit_json(audit(machine()), "")
    (tmp_path / "a.json").write_text(json.dumps(doc))
    assert main(["summary", "--hosts", str(tmp_path / "a.json"), str(snap)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["HOST", "KERNEL", "NODES", "REMOVABLE", "DIMMS"]
    assert lines[1].split()[:5] == ["lab", "6.1.0-56-amd64", "3", "2", "1/1"]
    assert next(l for l in lines if l.startswith("hostb")).split()[:4] == ["hostb", "6.1.0-56-amd64", "2", "1"]
    (tmp_path / "bad.json").write_text("{")
    assert main(["summary", str(tmp_path / "bad.json")]) == 2
    assert f"{tmp_path / 'bad.json'}: truncated JSON" in capsys.readouterr().out
    assert main(["summary", str(tmp_path / "missing.json")]) == 3
    assert f"{tmp_path / 'missing.json'}: no such file" in capsys.readouterr().out


def _doc(**node_changes: dict) -> dict:  # type: ignore[type-arg]
    doc = audit_json(audit(machine()), "")
    for n in doc["nodes"]:
        n.update(node_changes.get(f"n{n['node']}", {}))
    return doc


def test_verdict_and_blocking_causes() -> None:
    row = row_from_json("x", _doc())
    assert row.status == "ready" and row.blockers == () and row.ready == (2,)
    assert row.options == "movable_node" and row.firmware == "?"
    assert row.layout == "n0:2G:kernel:no:not-hotpluggable n1:2G:kernel:no:not-hotpluggable n2:3G:movable:ready " \
                         "dimms:1/1"
    doc = _doc(n2={"ready": False})
    doc["ranges"] = [r for r in doc["ranges"] if r["kind"] != "dimm"]
    ratio = row_from_json("x", doc)  # removable, but beyond the Movable ratio: blocked by that alone
    assert ratio.status == "not-ready" and ratio.blockers == ("movable-ratio",)
    blocked = row_from_json("x", dict(doc, nodes=[n if n["node"] != 2 else dict(
        n, removable=False, ready=False, reasons=[{"code": "kernel-zone", "severity": "blocker"}])
        for n in doc["nodes"]]))
    assert blocked.blockers == ("kernel-zone",)  # nodes 0-1 were never offered by the firmware
    assert "n2:3G:movable:no:kernel-zone" in blocked.layout
    unknown = row_from_json("x", dict(doc, nodes=[dict(n, removable=None, ready=None) if n["node"] == 1 else
                                                  dict(n, removable=False, ready=False) for n in doc["nodes"]]))
    assert unknown.status == "unknown" and unknown.unknown_why == "node 1 undetermined"


def test_memory_options() -> None:
    from observer.fleet.machine import memory_options
    assert memory_options("BOOT_IMAGE=/vmlinuz root=/dev/sda1 movable_node kernelcore=2G quiet "
                          "memory_hotplug.online_policy=auto-movable crashkernel=512M -- init=x") \
        == "movable_node kernelcore=2G memory_hotplug.online_policy=auto-movable crashkernel=512M"
    assert memory_options("quiet") == "-" and memory_options(None) == "?"


def test_blocks_are_skipped_only_in_the_audit_layout() -> None:
    from observer.render.audit import audit_json_chunks
    from observer.fleet.judge import _without_blocks
    text = "".join(audit_json_chunks(audit(machine()), "")).encode()
    short = _without_blocks(text)
    assert short is not None and len(short) < len(text) and json.loads(short)["blocks"] == []
    assert row_from_json("x", json.loads(short)) == row_from_json("x", json.loads(text))
    assert _without_blocks(json.dumps(json.loads(text)).encode()) is None  # compact: read whole
    assert _without_blocks(json.dumps(dict(json.loads(text), blocks=[]), indent=2).encode()) is None
