"""Over time and past its buffers: ``movcheck watch`` in a Debian 6.1 guest under eBPF.

One watch runs through both tests, with its buffers at their smallest (a one-page perf buffer,
a 4 KiB netlink receive buffer), so that a loss is possible at any time and must be counted.

Soak: the guest offlines and onlines the blocks of a hot-added DIMM in a loop for
``MOVCHECK_SOAK_SECONDS`` (default 120; ``make soak``: 1200 s and at least 5,000 operations);
the watch's RSS is sampled every minute (every 10 s in a short soak). Every operation must be
seen or counted lost; the RSS must stay flat (under 5 MiB of growth after the first minute).

Forced losses: the watch is stopped (SIGSTOP) while the guest runs a burst, so both buffers
overflow. The watch must count each eBPF loss and the netlink overflow, say so in the trace
and on stderr, and end with nothing missed (sysfs re-read, the blocks' states the kernel's);
``movcheck replay`` of the whole trace must print what the watch printed.
"""
from __future__ import annotations

import json
import os
import time
from typing import Iterator

import pytest

from tests.watchlab.drive import (BLOCK, DIMM, M, PARAMS, add_dimm, boot, kernel_blocks, start_watch, stop_watch,
                                  trace, wait)
from tests.watchlab.guest import Guest

pytestmark = pytest.mark.slow
SOAK_SECONDS = float(os.environ.get("MOVCHECK_SOAK_SECONDS", "120"))
SOAK_OPS = int(os.environ.get("MOVCHECK_SOAK_OPS", "0"))
RSS_EVERY = 60 if SOAK_SECONDS >= 600 else 10
#: Growth allowed after the first minute (or the first quarter of a short soak).
RSS_GROWTH_KB = 5 << 10
LOSS_ROUNDS = 25


@pytest.fixture(scope="module")
def guest() -> Iterator[tuple[Guest, list[int]]]:
    """A 6.1 guest with one DIMM hot-added to node 1 and onlined movable, and one watch running
    (a one-page perf buffer, a 4 KiB receive buffer) with its RSS sampled: (guest, the DIMM's blocks)."""
    g, env = boot("6.1")
    try:
        before = set(kernel_blocks(g))
        g.run(f"echo contig-zones > {PARAMS}/online_policy && echo online_movable > {M}/auto_online_blocks")
        error = add_dimm(g, "s1", 1)
        assert error is None, error
        deadline = time.monotonic() + 120
        while len(blocks := sorted(set(kernel_blocks(g)) - before)) < DIMM // BLOCK or \
                any(kernel_blocks(g)[b] != ("online", "Movable") for b in blocks):
            assert time.monotonic() < deadline, kernel_blocks(g)
            time.sleep(1)
        out = start_watch(g, env, "soak", "--buffer-pages 1 --rcvbuf 4096")
        assert "sources bpf" in out, out
        g.run("( while kill -0 $(cat $W/soak.pid) 2>/dev/null; do echo $(date +%s) $(awk '/VmRSS/ {print $2}'"
              f" /proc/$(cat $W/soak.pid)/status) >> $W/soak.rss; sleep {RSS_EVERY}; done ) > /dev/null 2>&1 &")
        yield g, blocks
    finally:
        g.close()


def _toggle(blocks: list[int], until: str) -> str:
    """Shell: offline then online_movable each block while ``until`` holds; prints the successful writes."""
    return (f"ok=0; while {until}; do for b in {' '.join(map(str, blocks))}; do"
            f" echo offline > {M}/memory$b/state && ok=$((ok+1));"
            f" echo online_movable > {M}/memory$b/state && ok=$((ok+1)); done; done; echo $ok")


def _tally(records: list[dict], blocks: list[int]) -> tuple[int, dict[str, int]]:
    """From the trace's records: the successful offline/online events of ``blocks`` the
    watch saw through eBPF, and the events each source lost, as its ``lost`` events count them."""
    seen, lost = 0, {"bpf": 0, "uevent": 0}
    for x in records:
        e = x.get("event")
        if e is None:
            continue
        if e["action"] == "lost":
            lost[e["source"]] += e["detail"]["count"]
        elif e["source"] == "bpf" and e["action"] in ("offline", "online") and e["block"] in blocks \
                and e.get("result") == 0:
            seen += 1
    return seen, lost


def test_soak(guest: tuple[Guest, list[int]]) -> None:
    g, blocks = guest
    t0 = time.monotonic()
    until = f"[ $(date +%s) -lt $end ] || [ $ok -lt {SOAK_OPS} ]"
    done = int(g.run(f"end=$(( $(date +%s) + {int(SOAK_SECONDS)} )); {_toggle(blocks, until)}",
                     timeout=SOAK_SECONDS + 1800).split()[-1])
    soak_s = time.monotonic() - t0
    wait(g, lambda: (t := _tally(trace(g, "soak"), blocks))[0] + t[1]["bpf"] >= done, 120, "soak")
    seen, lost = _tally(trace(g, "soak"), blocks)
    samples = [tuple(map(int, ln.split())) for ln in (g.work / "soak.rss").read_text().splitlines()
               if len(ln.split()) == 2]
    settle = samples[0][0] + min(60, SOAK_SECONDS / 4)
    after = [kb for t, kb in samples if t >= settle]
    report = {"release": g.kernel.release, "soak_s": round(soak_s), "operations": done, "seen": seen,
              "lost": lost, "rss_kb_every_s": RSS_EVERY, "rss_kb_first": samples[0][1],
              "rss_kb_after_first_minute": after[:1], "rss_kb_last": samples[-1][1], "rss_samples": len(samples)}
    print(json.dumps(report))
    assert done >= SOAK_OPS and done > 0, report
    assert seen + lost["bpf"] == done, report  # every operation seen or counted lost
    assert len(after) >= 2 and max(after) - after[0] < RSS_GROWTH_KB, (report, samples)


def test_forced_losses_are_counted_reported_and_reconciled(guest: tuple[Guest, list[int]]) -> None:
    g, blocks = guest
    seen0, lost0 = _tally(trace(g, "soak"), blocks)
    done = int(g.run(f"kill -STOP $(cat $W/soak.pid); r=0; {_toggle(blocks, f'[ $r -lt {LOSS_ROUNDS} ] && r=$((r+1))')}"
                     "; kill -CONT $(cat $W/soak.pid)").split()[-1])
    time.sleep(5)  # the watch drains what its buffers kept, counts the rest and re-reads sysfs
    stop_watch(g, "soak")
    records = trace(g, "soak")
    summary = records[-1]["summary"]
    err = (g.work / "soak.err").read_text()
    seen, lost_all = _tally(records, blocks)
    lost = {k: v - lost0[k] for k, v in lost_all.items()}
    report = {"operations": done, "seen": seen - seen0, "lost": lost, "summary_lost": summary["lost"],
              "reconciled": summary["reconciled"], "missed_at_end": summary["missed_at_end"],
              "stderr": [ln for ln in err.splitlines() if "lost" in ln][-3:]}
    print(json.dumps(report))
    assert done == 2 * LOSS_ROUNDS * len(blocks), report
    assert lost["bpf"] > 0 and lost["uevent"] > 0, report
    assert report["seen"] + lost["bpf"] == done, report  # the eBPF losses are counted one by one
    assert summary["lost"] == lost_all, report
    assert "lost by bpf" in err and "lost by uevent" in err, report
    assert summary["missed_at_end"] == 0 and summary["verdicts"]["disagree"] == 0, report
    assert all(kernel_blocks(g)[b][0] == "online" for b in blocks)
    replay = g.run(".venv/bin/python -m observer.cli replay $W/soak.jsonl; echo rc=$?")
    lines = [ln for ln in replay.splitlines() if not ln.startswith(("movcheck replay", "rc="))]
    assert "rc=0" in replay and lines == (g.work / "soak.out").read_text().splitlines()
