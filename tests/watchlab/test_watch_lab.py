"""End to end in a Debian guest: movcheck watch under eBPF sees every hot-add/online/offline/remove.

One boot per series and firmware (6.1 under SeaBIOS, 6.12 under UEFI through OVMF; with
``MOVCHECK_LAB=full`` 6.12 under SeaBIOS too): policies are
switched at run time between DIMM hot-adds (auto-online online / online_movable / offline
+ manual online_kernel and online_movable, online_policy contig-zones / auto-movable);
a burst of offline/online; two hot-removes; then ``movcheck replay`` must print exactly what watch printed.
The oracle for every zone is the guest kernel's own sysfs, read after the fact.
"""
from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from tests.watchlab.drive import (BLOCK, DIMM, M, PARAMS, add_dimm, boot, kernel_blocks, start_watch, stop_watch,
                                  trace, wait)
from tests.watchlab.guest import Guest

BURST_ROUNDS = 5

pytestmark = pytest.mark.slow


def _trace(g: Guest) -> list[dict]:
    return trace(g, "watch")


def _events(g: Guest, source: str = "bpf") -> list[dict]:
    return [x["event"] for x in _trace(g) if "event" in x and x["event"]["source"] == source]


def _plug(g: Guest, name: str, node: int, online_policy: str, auto: str) -> list[int]:
    """Set the policies, hot-add a DIMM; the new block numbers once watch saw them all."""
    g.run(f"echo {online_policy} > {PARAMS}/online_policy && echo {auto} > {M}/auto_online_blocks")
    before = set(kernel_blocks(g))
    error = add_dimm(g, name, node)
    assert error is None, error
    adds = len([e for e in _events(g) if e["action"] == "add"])
    wait(g, lambda: len([e for e in _events(g) if e["action"] == "add"]) > adds)
    blocks = sorted(set(kernel_blocks(g)) - before)
    assert len(blocks) == DIMM // BLOCK
    if auto != "offline":
        wait(g, lambda: {e["block"] for e in _events(g) if e["action"] == "online"} >= set(blocks))
    return blocks


GUESTS = [("6.1", "seabios"), ("6.12", "uefi")] + ([("6.12", "seabios")] if os.environ.get("MOVCHECK_LAB") == "full"
                                                  else [])


@pytest.mark.parametrize("series,firmware", GUESTS)
def test_watch_lab(series: str, firmware: str) -> None:
    t0 = time.monotonic()
    g, env = boot(series, firmware)
    kernel = g.kernel
    try:
        out = start_watch(g, env, "watch")
        assert "sources bpf" in out, out
        attach_s = time.monotonic() - t0
        d1 = _plug(g, "d1", 1, "contig-zones", "online")
        d2 = _plug(g, "d2", 1, "contig-zones", "online_movable")
        d3 = _plug(g, "d3", 0, "auto-movable", "online")
        d4 = _plug(g, "d4", 0, "contig-zones", "offline")
        g.run(f"echo online_movable > {M}/memory{d4[0]}/state; echo online_movable > {M}/memory{d4[1]}/state;"
              f" echo online > {M}/memory{d4[2]}/state; echo online_kernel > {M}/memory{d4[3]}/state")
        wait(g, lambda: {e["block"] for e in _events(g) if e["action"] == "online"} >= set(d4))
        kernel_view = kernel_blocks(g)
        onlines = {e["block"]: e for e in _events(g) if e["action"] == "online"}
        for b in d1 + d2 + d3 + d4:
            assert onlines[b]["zone"] == kernel_view[b][1], (b, onlines[b], kernel_view[b])
            assert onlines[b]["verdict"]["status"] == "agree", onlines[b]
        assert all(kernel_view[b][1] == "Movable" for b in d2)

        burst = ("t0=$(date +%s%N); ok=0; for r in $(seq {rounds}); do for b in {blocks}; do"
                 " echo offline > {m}/memory$b/state && ok=$((ok+1)); echo online_movable > {m}/memory$b/state"
                 " && ok=$((ok+1)); done; done; echo $ok $(( ($(date +%s%N) - t0) / 1000 ))")
        script = burst.format(rounds=BURST_ROUNDS, blocks=" ".join(map(str, d2)), m=M)
        n_before = len(_events(g))
        done, _ = map(int, g.run(script).split())
        wait(g, lambda: len(_events(g)) - n_before >= done, 60)
        seen = [e for e in _events(g)[n_before:] if e["block"] in d2]
        lost = [x["event"] for x in _trace(g) if "event" in x and x["event"]["action"] == "lost"]
        timing = burst.format(rounds=BURST_ROUNDS, blocks=" ".join(map(str, d4[:2])), m=M)
        ops_with, with_us = map(int, g.run(timing).split())  # the same blocks are timed again without probes

        n_removal = len(_events(g))
        for name in ("d2", "d3"):
            assert "error" not in g.qmp.cmd("device_del", id=name)
            assert g.qmp.wait_event("DEVICE_DELETED", 90) is not None, name
        wait(g, lambda: len([e for e in _events(g) if e["action"] == "remove"]) >= 2)
        stop_watch(g, "watch")
        replay = g.run(".venv/bin/python -m observer.cli replay $W/watch.jsonl; echo rc=$?")
        ops_without, without_us = map(int, g.run(timing).split())
        trace = _trace(g)
        summary = trace[-1]["summary"]
        watch_lines = [ln for ln in (g.work / "watch.out").read_text().splitlines()]
        replay_lines = [ln for ln in replay.splitlines() if not ln.startswith(("movcheck replay", "rc="))]
        report = {"release": kernel.release, "firmware": firmware, "boot_s": round(g.boot_seconds, 1), "attach_s": round(attach_s, 1),
                  "attach_points": trace[0]["attach_points"], "burst_done": done,
                  "burst_seen": len(seen), "lost": summary["lost"], "reconciled": summary["reconciled"],
                  "us_per_op_with_probes": round(with_us / ops_with), "us_per_op_without": round(without_us / ops_without),
                  "bpf_online_us": sorted(e["duration_us"] for e in seen if e["action"] == "online"),
                  "bpf_offline_us": sorted(e["duration_us"] for e in seen if e["action"] == "offline"),
                  "total_s": round(time.monotonic() - t0, 1)}
        (g.work / "report.json").write_text(json.dumps(report, indent=1))
        (g.work / "replay.out").write_text(replay)
        print(json.dumps(report))
        # nothing lost, or every loss detected (counted) and the state reconciled at the end
        assert len(seen) == done or (lost and summary["missed_at_end"] == 0), report
        removal = _events(g)[n_removal:]
        offlined = {e["block"]: e["zone"] for e in removal if e["action"] == "offline" and e["result"] == 0}
        assert all(offlined.get(b) == "Movable" for b in d2 + d3), offlined
        removed = sorted((e["start_pfn"], e["nr_pages"]) for e in removal if e["action"] == "remove")
        assert removed == sorted((d[0] * BLOCK >> 12, DIMM >> 12) for d in (d2, d3))
        assert watch_lines == replay_lines
        assert "rc=0" in replay
    finally:
        keep = os.environ.get("MOVCHECK_LAB_OUT")  # keep the guest's files, passed or failed
        if keep:
            os.makedirs(keep, exist_ok=True)
            for path in g.work.iterdir():
                shutil.copy(path, os.path.join(keep, f"{kernel.release}.{path.name}"))
        g.close()
