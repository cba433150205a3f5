"""``movcheck summary`` over a fleet: 10,000 audit files made by the benchmark's generator from the
lab's recordings, and a mixed run over recordings of every series, bare boot logs and a corrupted
file. Expected counts are computed here from the files themselves, not by the roll-up's code."""
from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from observer.cli import main
from observer.render.fleet import render_text
from tests.bench.fleet import base_audits, lab_recordings, write_audits

#: The order in which a node's blocker codes explain it (README "movcheck summary").
RANK = ("input-missing", "no-srat", "not-hotpluggable", "kernel-node", "memoryless-node", "hotadd-kernel-zone",
        "kernel-zone", "mixed-zones", "memory-hole", "kernel-image", "node-data", "cma", "reserved", "absent")


def expected(doc: dict) -> tuple[str, set[str]]:
    """A machine's verdict and blocking root causes, from its audit document."""
    nodes = doc["nodes"]
    if any(n["removable"] is True and n["ready"] is True for n in nodes) or \
            any(r["kind"] == "dimm" and r["removable"] is True for r in doc["ranges"]):
        return "ready", set()
    if not nodes or any(n["removable"] is None for n in nodes):
        return "unknown", set()
    causes = set()
    for n in nodes:
        codes = [r["code"] for r in n["reasons"] if r["severity"] != "warning"]
        if n["removable"] is True:
            causes.add("movable-ratio")
        elif codes:
            causes.add(min(codes, key=lambda c: RANK.index(c) if c in RANK else len(RANK)))
    return "not_ready", causes - {"not-hotpluggable"} if causes - {"not-hotpluggable"} else causes


def firmware_name(fw: dict | None) -> str:
    if not fw:
        return "?"
    if fw["kind"] == "bios":
        return "BIOS"
    return " ".join(x for x in ("UEFI", fw["version"], f"({fw['vendor']})" if fw["vendor"] else None) if x)


def summary(args: list[str], capsys, stdin: str | None = None, monkeypatch=None) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["summary", *args])
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """10,000 audit files from two recordings of each lab series, plus a truncated and a foreign file."""
    folder = tmp_path_factory.mktemp("fleet") / "audits"
    folder.mkdir()
    write_audits(str(folder), 10_000, base_audits(lab_recordings(per_series=2)))
    whole = (folder / "web-000001.json").read_bytes()
    (folder / "zz-truncated.json").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.txt").write_text("rack 12 moved to row B\n")
    return folder


def test_counts_match_the_files(fleet: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    status: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    kernels: dict[str, Counter[str]] = {}
    firmware: Counter[str] = Counter()
    for path in fleet.glob("*-0*.json"):
        doc = json.loads(path.read_text())
        verdict, blocked = expected(doc)
        status[verdict] += 1
        causes.update(blocked)
        kernels.setdefault(doc["kernel"], Counter())[verdict] += 1
        firmware[firmware_name(doc["firmware"])] += 1
    assert sum(status.values()) == 10_000 and status["ready"] and status["not_ready"]
    code, out = summary([str(fleet), "--json"], capsys)
    doc = json.loads(out)
    assert code == 1
    assert doc["inputs"] == 10_002 and doc["bad_inputs"] == 2
    assert doc["machines"] == {"total": 10_000, "ready": status["ready"], "not_ready": status["not_ready"],
                               "unknown": status["unknown"]}
    assert {c["code"]: c["machines"] for c in doc["root_causes"]} == dict(causes)
    assert {k["value"]: {s: k[s] for s in ("ready", "not_ready", "unknown") if k[s]} for k in doc["by_kernel"]} \
        == {k: dict(c) for k, c in kernels.items()}
    assert {f["value"]: f["machines"] for f in doc["by_firmware"]} == dict(firmware)
    assert sum(g["machines"] for g in doc["layouts"]) == 10_000
    assert [b["input"] for b in doc["bad"]] == [str(fleet / "notes.txt"), str(fleet / "zz-truncated.json")]
    assert doc["bad"][1]["reason"].startswith("truncated JSON")


def test_json_round_trips_and_order_does_not_matter(fleet: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, out = summary([str(fleet), "--json"], capsys)
    doc = json.loads(out)
    listed = "\n".join(sorted((str(p) for p in fleet.iterdir()), reverse=True)) + "\n"
    code, text = summary(["-"], capsys, stdin=listed, monkeypatch=monkeypatch)
    assert code == 1 and text == render_text(doc) + "\n"
    assert json.loads(json.dumps(doc)) == doc and doc["format"] == 1
    assert text.count("zz-truncated.json") == 1


def _dmesg_of(recording: Path, dest: Path) -> Path:
    with tarfile.open(recording) as tar:
        member = next(m for m in tar.getmembers() if m.name.lstrip("./") == "var/log/dmesg")
        dest.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    return dest


def test_mixed_run_over_every_series_boot_logs_and_a_corrupted_file(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    series = sorted(p for p in (Path(__file__).resolve().parents[1] / "recordings").iterdir() if p.is_dir())
    recs = [sorted(s.glob("*.tar.gz"))[0] for s in series]
    assert {r.parent.name for r in recs} >= {"5.10", "6.1", "6.12", "7.x", "6.1-uefi", "6.12-uefi", "7.x-uefi"}
    status: Counter[str] = Counter()
    for rec in recs:
        assert main(["audit", "--root", str(rec), "--json", "--no-advice"]) == 0
        status[expected(json.loads(capsys.readouterr().out))[0]] += 1
    logs = [_dmesg_of(recs[0], tmp_path / "a.dmesg"), _dmesg_of(recs[-1], tmp_path / "b.log")]
    real = Path(__file__).parent / "data" / "reallogs" / "dell-r410-centos8-4.18.0-147-2node.dmesg"
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(gzip.compress(recs[1].read_bytes())[:5000])
    code, out = summary([*map(str, recs), *map(str, logs), str(real), str(broken), "--json"], capsys)
    doc = json.loads(out)
    assert doc["machines"] == {"total": len(recs) + 3, "ready": status["ready"], "not_ready": status["not_ready"],
                               "unknown": status["unknown"] + 3}
    assert code == (1 if status["not_ready"] else 2)
    assert [u["machines"] for u in doc["unknown"] if "a boot log alone" in u["why"]] == [3]
    assert [b["input"] for b in doc["bad"]] == [str(broken)]
    kernels = {k["value"] for k in doc["by_kernel"]}
    assert "4.18.0-147.el8.x86_64" in kernels
    text = render_text(doc)
    assert text.count(str(broken)) == 1 and "BAD INPUTS: 1" in text


def test_a_directory_is_walked_but_a_snapshot_is_one_machine(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.test_audit import write_snapshot
    write_snapshot(str(tmp_path / "rack" / "hostb"))
    (tmp_path / "rack" / "deeper").mkdir()
    _dmesg_of(lab_recordings(per_series=1)[0], tmp_path / "rack" / "deeper" / "hostc.dmesg")
    code, out = summary([str(tmp_path), "--json", "--hosts"], capsys)
    doc = json.loads(out)
    assert [h["host"] for h in doc["hosts"]] == ["hostc.dmesg", "hostb"]
    assert [h["status"] for h in doc["hosts"]] == ["unknown", "ready"] and code == 3
    assert main(["summary", str(tmp_path), "--require", "node1"]) == 3
    assert "REQUIRE node 1 removable: 1 met, 0 not met, 1 cannot tell" in capsys.readouterr().out
    assert main(["summary", str(tmp_path / "rack" / "hostb"), "--require", "0"]) == 1
    capsys.readouterr()
    assert main(["summary", str(tmp_path), "--require", "4G"]) == 2
    assert "not a node number" in capsys.readouterr().err


def test_csv_for_spreadsheets(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.test_audit import write_snapshot
    write_snapshot(str(tmp_path / "hostb"))
    (tmp_path / "empty.json").write_text("")
    code, out = summary([str(tmp_path), "--csv"], capsys)
    rows = out.splitlines()
    assert code == 2 and rows[0] == "section,value,machines,ready,not_ready,unknown,detail"
    assert rows[1] == "machines,all,1,1,0,0," and rows[-1].startswith(f"bad,{tmp_path / 'empty.json'},")
    _, out = summary([str(tmp_path), "--csv", "--hosts"], capsys)
    head, host = out.splitlines()
    assert head.split(",")[:3] == ["input", "host", "status"] and host.split(",")[1:3] == ["hostb", "ready"]
    assert os.path.basename(host.split(",")[0]) == "hostb"


def test_links_to_folders_are_not_followed(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.test_audit import write_snapshot
    write_snapshot(str(tmp_path / "hosts" / "hostb"))
    os.symlink(tmp_path / "hosts" / "hostb", tmp_path / "hosts" / "hostb-again")  # a machine: read
    os.symlink(tmp_path / "hosts", tmp_path / "hosts" / "loop")  # a folder: refused, no loop
    code, out = summary([str(tmp_path), "--json"], capsys)
    doc = json.loads(out)
    assert code == 2 and doc["machines"]["ready"] == 2
    assert doc["bad"] == [{"input": str(tmp_path / "hosts" / "loop"), "reason": "a link to a directory, not followed"}]
