"""The textfile round trip a fleet runs: ``movcheck audit --format prometheus -o DIR/movcheck.prom``
on real recordings, served by Debian's node_exporter (textfile collector) over HTTP, and linted
by ``promtool check metrics``. ``make test`` installs both tools; a missing one fails, never skips."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from observer.cli import main
from probes.root import unpack_recording
from tests.test_model_recordings import CAPTURES, _id

REPO = Path(__file__).resolve().parents[1]
SERIES = REPO / "recordings" / "6.12"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def tool(name: str) -> str:
    """The path of a Debian tool ``make test`` installs; its absence is a failure."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (make test installs it with apt-get)"
    return path


def samples(text: str, prefix: str = "movcheck_") -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples if s.name.startswith(prefix)}


def promtool_check(text: str) -> None:
    proc = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def node_exporter(textfile_dir: Path) -> Iterator[str]:
    """node_exporter on a loopback port with only its textfile collector; yields the metrics URL."""
    port = _free_port()
    proc = subprocess.Popen([tool("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{port}",
                             "--collector.disable-defaults", "--collector.textfile",
                             f"--collector.textfile.directory={textfile_dir}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        for _ in range(200):  # until it listens (or exits)
            if proc.poll() is not None:
                pytest.fail(f"node_exporter exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            try:
                scrape(url)
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def audit_into(root: Path, out: Path) -> str:
    """Run the movcheck command as a timer would and return the textfile it wrote."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "observer.cli", "audit", "--root", str(root),
                           "--format", "prometheus", "-o", str(out)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    return out.read_text()


def disagreeing(tmp: Path) -> Path:
    """hp_node2_offline_boot with boot blocks 47 and 55 shown online while zoneinfo stays (as in
    tests/test_check.py): the checker finds node 2's Movable span and present differ."""
    tree = tmp / "hp_node2_offline_boot"
    tree.mkdir()
    unpack_recording(str(SERIES / "hp_node2_offline_boot.tar.gz"), str(tree))
    for n in (47, 55):
        (tree / f"sys/devices/system/memory/memory{n}/state").write_text("online\n")
        (tree / f"sys/devices/system/memory/memory{n}/online").write_text("1\n")
    return tree


def check_differences(root: Path) -> int:
    """How many differences ``movcheck check --json`` finds on ``root``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["check", "--json", "--root", str(root)]) == 1
    return len(json.loads(out.getvalue())["mismatches"])


def test_node_exporter_serves_the_audit_of_each_recording(tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    prom = textfiles / "movcheck.prom"
    cases = {  # recording -> series that must be scraped with this value
        SERIES / "hp_node2_movable_node.tar.gz": {("movcheck_node_removable", (("node", "2"),)): 1,
                                                  ("movcheck_node_hotpluggable", (("node", "2"),)): 1,
                                                  ("movcheck_check_mismatches", ()): 0},
        SERIES / "hp_node2.tar.gz": {("movcheck_node_removable", (("node", "2"),)): 0,
                                     ("movcheck_node_hotpluggable", (("node", "2"),)): 1,
                                     ("movcheck_node_reason_info", (("code", "kernel-zone"), ("node", "2"))): 1,
                                     ("movcheck_check_mismatches", ()): 0},
    }
    tree = disagreeing(tmp_path)
    differences = check_differences(tree)
    assert differences >= 2  # the span and the present pages of node 2's Movable zone at least
    cases[tree] = {("movcheck_check_mismatches", ()): differences}
    with node_exporter(textfiles) as url:
        for root, expected in cases.items():
            written = audit_into(root, prom)
            promtool_check(written)
            served_text = scrape(url)
            served = samples(served_text)
            assert served == samples(written), root  # every series, every value, nothing else
            for key, value in expected.items():
                assert served[key] == value, (root, key)
            errors = samples(served_text, "node_textfile_scrape_error")
            assert list(errors.values()) == [0.0], served_text
    assert sorted(p.name for p in textfiles.iterdir()) == ["movcheck.prom"]


@pytest.mark.parametrize("cap", CAPTURES, ids=_id)
def test_promtool_accepts_every_recording(cap: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["audit", "--root", str(cap), "--format", "prometheus"]) == 0
    promtool_check(out.getvalue())
