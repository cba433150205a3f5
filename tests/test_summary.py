"""``movcheck summary`` over audit JSON files and snapshots."""
from __future__ import annotations

import json

import pytest

from observer.audit import audit
from observer.audit_report import audit_json
from observer.cli import main
from observer.summary import row_from_json
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
