"""The shipped alert rules (contrib/prometheus/movcheck.rules.yml) under ``promtool test rules``, fed
the series movcheck writes for real recordings: each alert fires for the host and node it should,
with the reasons the audit gives, and for no other."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path
from typing import Any

from observer.cli import main
from probes.root import unpack_recording
from tests.test_fleet_prometheus import REPO, SERIES, check_differences, disagreeing, samples, tool

RULES = REPO / "contrib" / "prometheus" / "movcheck.rules.yml"
MINUTES = 100  # samples per input series, one a minute


def _movcheck(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def _pinned(tmp: Path) -> Path:
    """hp_node2 (node 2 hot-pluggable, pinned by kernel allocations) with proc/cmdline gone."""
    tree = tmp / "hp_node2"
    tree.mkdir()
    unpack_recording(str(SERIES / "hp_node2.tar.gz"), str(tree))
    (tree / "proc/cmdline").unlink()
    return tree


def _series(host: str, root: Path, fresh: bool) -> list[dict[str, str]]:
    """The host's textfile samples as promtool input series; its audit timestamp advances with
    the clock when ``fresh``, else it stays at the epoch (the timer stopped)."""
    text = _movcheck("audit", "--root", str(root), "--format", "prometheus")
    out = [{"series": 'movcheck_audit_timestamp_seconds{instance="%s",job="node"}' % host,
            "values": f"0+60x{MINUTES}" if fresh else f"0x{MINUTES}"}]
    for (name, labels), value in samples(text).items():
        if name != "movcheck_audit_timestamp_seconds":
            inner = ",".join(f'{k}={json.dumps(v)}' for k, v in (*labels, ("instance", host), ("job", "node")))
            out.append({"series": f"{name}{{{inner}}}", "values": f"{value:g}x{MINUTES}"})
    return out


def _expected(host: str, root: Path, stale: bool) -> dict[str, list[dict[str, Any]]]:
    """The alerts the rules must raise for ``host``, decided from ``movcheck audit --json`` and
    ``movcheck check --json`` rather than from the metrics."""
    doc = json.loads(_movcheck("audit", "--root", str(root), "--json"))
    base = {"instance": host, "job": "node"}
    alerts: dict[str, list[dict[str, Any]]] = {}
    hotpluggable = {r["node"] for r in doc["ranges"] if r["kind"] == "srat" and r["hotpluggable"]}
    for n in doc["nodes"]:
        if n["node"] in hotpluggable and n["removable"] is False:
            codes = sorted({r["code"] for r in n["reasons"]})
            alerts.setdefault("MovcheckHotpluggableNodeNotRemovable", []).append({
                "exp_labels": {**base, "node": str(n["node"]), "severity": "warning"},
                "exp_annotations": {
                    "summary": f"{host}: node {n['node']} is hot-pluggable but cannot be hot-removed",
                    "description": f"Reasons: {' '.join(codes)} (see `movcheck audit --require {n['node']}` on the host)."}})
    if doc["check"]["agree"] is False:
        differences = check_differences(root)
        alerts["MovcheckLayoutMismatch"] = [{"exp_labels": {**base, "severity": "warning"}, "exp_annotations": {
            "summary": f"{host}: zone layout differs from movcheck's prediction ({differences} differences)",
            "description": "The kernel placed memory in zones other than the model predicts; run `movcheck check` "
                           "on the host to see each difference and the rule it breaks."}}]
    if doc["problems"]:
        alerts["MovcheckInputsUnreadable"] = [{"exp_labels": {**base, "severity": "info"}, "exp_annotations": {
            "summary": f"{host}: movcheck's audit could not read {len(doc['problems'])} of its inputs",
            "description": "Verdicts it could not decide are left out; run `movcheck audit` as root on the host "
                           "to see which inputs."}}]
    if stale:  # at 90m, the timestamp still at 0
        alerts["MovcheckAuditStale"] = [{"exp_labels": {**base, "severity": "warning"}, "exp_annotations": {
            "summary": f"{host}: movcheck's audit has not run for an hour",
            "description": "The textfile was written 1h 30m 0s ago; check "
                           "`systemctl status movcheck-audit.timer movcheck-audit.service`."}}]
    return alerts


def test_promtool_test_rules_on_recorded_hosts(tmp_path: Path) -> None:
    check = subprocess.run([tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    hosts = {"fine": (SERIES / "hp_node2_movable_node.tar.gz", True),
             "pinned": (_pinned(tmp_path), False), "drifted": (disagreeing(tmp_path), True)}
    series, late = [], {}
    for host, (root, fresh) in hosts.items():
        series += _series(host, root, fresh)
        for name, alerts in _expected(host, root, stale=not fresh).items():
            late.setdefault(name, []).extend(alerts)
    names = sorted(late)
    assert names == ["MovcheckAuditStale", "MovcheckHotpluggableNodeNotRemovable", "MovcheckInputsUnreadable",
                     "MovcheckLayoutMismatch"]  # every rule is exercised
    cases = [{"eval_time": "20m", "alertname": n, "exp_alerts": []} for n in names]  # before `for:` / the hour
    cases += [{"eval_time": "90m", "alertname": n, "exp_alerts": late[n]} for n in names]
    spec = {"rule_files": [str(RULES)], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": cases}]}
    test_file = tmp_path / "movcheck.rules.test.yml"
    test_file.write_text(json.dumps(spec, indent=1))  # JSON is YAML
    proc = subprocess.run([tool("promtool"), "test", "rules", str(test_file)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout
