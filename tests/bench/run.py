"""``make bench``: movcheck audit, show and check against lsmem on synthetic snapshots, plus start-up
(``movcheck --version``), the boot-log parser and plan.

For each size the commands run as subprocesses, alternately, after one warm-up
each; every run is reaped with ``os.wait4`` so its own CPU time and peak RSS are
known. Medians are reported; wall time is what the target is about, CPU time
(user + system) is printed too because it is steadier on a loaded machine.
Benchmarks are measurements, not tests: nothing here fails on a slow number. The
movcheck being timed is byte-compiled first, as an installed package is (with
PYTHONDONTWRITEBYTECODE set, every run would otherwise compile every module again).
"""
from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from tests.bench import fleet
from tests.bench.synth import Layout, cached_snapshot, memblock_debug_log

SIZES = (1024, 8192, 32768, 131072)
#: The commands timed beside ``audit --json`` at every size (a second table).
OTHERS = {"show": ["show"], "check": ["check"]}
LSMEM_COLUMNS = "RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES"
BOOTLOG_BYTES = 4 << 20
TIME = "/usr/bin/time"  # GNU time (Debian package time)


def movcheck_cmd() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = os.path.join(os.path.dirname(sys.executable), "movcheck")
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "observer.cli"]


def byte_compile() -> None:
    """Write the .pyc files of the observer and probes packages this interpreter imports."""
    for pkg in ("observer", "probes"):
        spec = importlib.util.find_spec(pkg)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(folder, quiet=1)


def run_once(cmd: list[str]) -> dict[str, float]:
    """Wall seconds, CPU seconds (user+sys) and peak RSS (MiB) of one run; raises if it fails.

    The command runs under /usr/bin/time, which reports its peak RSS: a child forked straight
    from this Python process would inherit its RSS high-water mark through exec.
    """
    with tempfile.NamedTemporaryFile("r", prefix="movcheck-bench-") as rss:
        t0 = time.perf_counter()
        proc = subprocess.Popen([TIME, "-f", "%M", "-o", rss.name, *cmd], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)  # CPU includes the reaped command's
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.strip()[:300]}")
        peak_kib = int(rss.read().split()[-1])
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": peak_kib / 1024}


def compare(cmds: dict[str, list[str]], repeat: int) -> dict[str, dict[str, float]]:
    """Each command warmed up once, then run ``repeat`` times alternately; medians and max RSS."""
    for cmd in cmds.values():
        run_once(cmd)
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            runs[name].append(run_once(cmd))
    return {name: {"wall": statistics.median(r["wall"] for r in rs), "cpu": statistics.median(r["cpu"] for r in rs),
                   "rss_mib": max(r["rss_mib"] for r in rs), "runs": len(rs)} for name, rs in runs.items()}


def growth(rows: list[dict[str, Any]], key: str) -> list[float | None]:
    """Per size after the first: the exponent k in time ~ blocks**k against the previous size."""
    out: list[float | None] = [None]
    for a, b in zip(rows, rows[1:]):
        ta, tb = a[key], b[key]
        out.append(round(math.log(tb / ta) / math.log(b["blocks"] / a["blocks"]), 2) if ta > 0 and tb > 0 else None)
    return out


def bench_bootlog(repeat: int) -> dict[str, Any]:
    """parse_boot_log on a 4 MiB memblock=debug log, in this process."""
    from probes.bootlog import parse_boot_log
    text = memblock_debug_log(BOOTLOG_BYTES)
    times, cpus, log = [], [], None
    for _ in range(repeat + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        log = parse_boot_log(text)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    assert log is not None
    return {"bytes": len(text.encode()), "lines": text.count("\n"), "events": len(log.events),
            "complete": log.complete, "wall": statistics.median(times[1:]), "cpu": statistics.median(cpus[1:])}


def bench_plan(repeat: int) -> dict[str, Any]:
    """``movcheck plan`` on a 64-node machine (32 hot-pluggable nodes)."""
    lay = Layout(blocks=64 * 32, nodes=64, hotplug_nodes=32)
    root = cached_snapshot(lay)
    res = compare({"plan": movcheck_cmd() + ["plan", "--root", root]}, repeat)["plan"]
    return {"nodes": lay.nodes, "blocks": lay.blocks, **res}


def bench_startup(repeat: int) -> dict[str, dict[str, float]]:
    """``movcheck --version`` (the interpreter, the console script and observer.cli) against a bare
    interpreter; twice the runs of a size, as each takes a few tens of milliseconds."""
    return compare({"version": movcheck_cmd() + ["--version"], "python": [sys.executable, "-c", "pass"]},
                   2 * repeat)


def ratio_row(n: int, m: dict[str, float], ls: dict[str, float]) -> dict[str, Any]:
    """One table row: movcheck's medians (``m``) against lsmem's (``ls``) on ``n`` blocks."""
    return {"blocks": n, "movcheck_s": round(m["wall"], 3), "lsmem_s": round(ls["wall"], 3),
            "ratio": round(m["wall"] / ls["wall"], 2), "movcheck_cpu_s": round(m["cpu"], 3),
            "lsmem_cpu_s": round(ls["cpu"], 3), "cpu_ratio": round(m["cpu"] / ls["cpu"], 2),
            "movcheck_rss_mib": round(m["rss_mib"], 1), "lsmem_rss_mib": round(ls["rss_mib"], 1),
            "runs": m["runs"]}


def print_others(others: list[dict[str, Any]], startup: dict[str, dict[str, float]]) -> None:
    """The show/check table (ratios against lsmem run alternately with them) and start-up."""
    print(f"{'command':>7} {'blocks':>7} {'movcheck s':>10} {'lsmem s':>8} {'ratio':>6} {'mc cpu s':>8} "
          f"{'ls cpu s':>8} {'cpu ratio':>9} {'mc RSS MiB':>10}")
    for r in others:
        print(f"{r['command']:>7} {r['blocks']:>7} {r['movcheck_s']:>10.3f} {r['lsmem_s']:>8.3f} {r['ratio']:>6.2f} "
              f"{r['movcheck_cpu_s']:>8.3f} {r['lsmem_cpu_s']:>8.3f} {r['cpu_ratio']:>9.2f} "
              f"{r['movcheck_rss_mib']:>10.1f}")
    v, py = startup["version"], startup["python"]
    print(f"start-up, movcheck --version: {v['wall'] * 1000:.1f} ms wall, {v['cpu'] * 1000:.1f} ms CPU, "
          f"{v['rss_mib']:.1f} MiB RSS (python -c pass: {py['wall'] * 1000:.1f} ms wall, {py['cpu'] * 1000:.1f} ms CPU)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="block counts (comma-separated)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each command per size")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    args = ap.parse_args(argv)
    if not os.access(TIME, os.X_OK):
        print(f"{TIME} is needed for peak RSS (apt-get install time)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    byte_compile()
    rows, others = [], []
    for n in sizes:
        t0 = time.perf_counter()
        root = cached_snapshot(Layout(n))
        print(f"# {n} blocks: {root} (ready in {time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        res = compare({"movcheck": movcheck_cmd() + ["audit", "--root", root, "--json"],
                       "lsmem": ["lsmem", "--sysroot", root, "-a", "-o", LSMEM_COLUMNS],
                       **{name: movcheck_cmd() + [*cmd, "--root", root] for name, cmd in OTHERS.items()}},
                      args.repeat if n < 131072 else max(1, args.repeat // 2))
        rows.append(ratio_row(n, res["movcheck"], res["lsmem"]))
        others += [{"command": name, **ratio_row(n, res[name], res["lsmem"])} for name in OTHERS]
    for row, g, gc in zip(rows, growth(rows, "movcheck_s"), growth(rows, "movcheck_cpu_s")):
        row["growth_exponent"], row["cpu_growth_exponent"] = g, gc
    bootlog = bench_bootlog(args.repeat)
    plan = bench_plan(args.repeat)
    startup = bench_startup(args.repeat)
    fleet_rows = fleet.bench()
    load = os.getloadavg()
    print(f"{'blocks':>7} {'movcheck s':>10} {'lsmem s':>8} {'ratio':>6} {'mc cpu s':>8} {'ls cpu s':>8} "
          f"{'cpu ratio':>9} {'mc RSS MiB':>10} {'ls RSS MiB':>10} {'growth':>6} {'cpu growth':>10}")
    for r in rows:
        print(f"{r['blocks']:>7} {r['movcheck_s']:>10.3f} {r['lsmem_s']:>8.3f} {r['ratio']:>6.2f} "
              f"{r['movcheck_cpu_s']:>8.3f} {r['lsmem_cpu_s']:>8.3f} {r['cpu_ratio']:>9.2f} "
              f"{r['movcheck_rss_mib']:>10.1f} {r['lsmem_rss_mib']:>10.1f} "
              f"{'-' if r['growth_exponent'] is None else r['growth_exponent']:>6} "
              f"{'-' if r['cpu_growth_exponent'] is None else r['cpu_growth_exponent']:>10}")
    print_others(others, startup)
    print(f"boot log parser: {bootlog['bytes'] / 2**20:.1f} MiB, {bootlog['lines']} lines, {bootlog['events']} events, "
          f"complete={bootlog['complete']}: {bootlog['wall']:.3f} s wall, {bootlog['cpu']:.3f} s CPU "
          f"({bootlog['bytes'] / 2**20 / bootlog['cpu']:.1f} MiB/s)")
    print(f"plan, {plan['nodes']} nodes / {plan['blocks']} blocks: {plan['wall']:.3f} s wall, {plan['cpu']:.3f} s CPU, "
          f"{plan['rss_mib']:.1f} MiB RSS")
    fleet.print_rows(fleet_rows)
    print(f"(growth: exponent k of time ~ blocks**k against the previous size; 1.0 is linear. "
          f"load average {load[0]:.1f} on {os.cpu_count()} CPUs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": rows, "others": others, "startup": startup, "bootlog": bootlog, "plan": plan,
                       "fleet": fleet_rows, "loadavg": load, "cpus": os.cpu_count()}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
