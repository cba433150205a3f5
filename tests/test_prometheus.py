"""The textfile-collector output parses as Prometheus exposition text and carries the verdicts."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from observer.audit.verdicts import audit
from observer.render.prometheus import METRICS, prometheus_text
from tests.test_audit import machine
from tests.test_fleet_prometheus import promtool_check


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_parses_and_states_each_verdict() -> None:
    text = prometheus_text(audit(machine()), 1_700_000_000.5, mismatches=2)
    got = _samples(text)
    assert got[("movcheck_node_removable", (("node", "2"),))] == 1
    assert got[("movcheck_node_removable", (("node", "0"),))] == 0
    assert got[("movcheck_node_reason_info", (("code", "kernel-image"), ("node", "0")))] == 1
    assert got[("movcheck_audit_timestamp_seconds", ())] == 1_700_000_000.5
    assert got[("movcheck_check_mismatches", ())] == 2
    dimm = [k for k in got if k[0] == "movcheck_range_removable" and ("kind", "dimm") in k[1]]
    assert len(dimm) == 1 and got[dimm[0]] == 1
    blocks = {k[1]: v for k, v in got.items() if k[0] == "movcheck_memory_blocks"}
    assert blocks[(("node", "2"), ("verdict", "removable"))] == 24
    assert sum(blocks.values()) == len(machine().blocks or ())
    assert {k[0] for k in got} <= set(METRICS)


def test_unknown_verdicts_are_left_out_and_labels_escaped() -> None:
    text = prometheus_text(audit(machine(zones=None, firmware=None, host='we"ird\\host')), 0.0)
    got = _samples(text)
    assert ("movcheck_node_removable", (("node", "2"),)) not in got
    assert got[("movcheck_node_removable", (("node", "0"),))] == 0
    info = [k for k in got if k[0] == "movcheck_info"][0]
    assert dict(info[1])["host"] == 'we"ird\\host'


def test_promtool_accepts_it() -> None:
    promtool_check(prometheus_text(audit(machine()), 1_700_000_000.0, mismatches=0))


def test_cli_writes_the_textfile_atomically(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from observer.cli import main
    from tests.test_audit import write_snapshot
    snap = tmp_path / "snap"
    write_snapshot(str(snap))
    out = tmp_path / "movcheck.prom"
    out.write_text("old\n")
    assert main(["audit", "--root", str(snap), "--format", "prometheus", "-o", str(out)]) == 0
    got = _samples(out.read_text())
    assert got[("movcheck_node_removable", (("node", "1"),))] == 1
    assert got[("movcheck_node_removable", (("node", "0"),))] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movcheck.prom", "snap"]  # no temporary left
