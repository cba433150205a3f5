"""Record the lab's scenarios on real kernels.

    python -m tests.lab.run recordings [--kernel 6.1|6.12|all] [--firmware seabios|uefi]
                                       [--scenario NAME ...] [-j N]
    python -m tests.lab.run table [--kernel ...] [--firmware ...] [--scenario NAME ...]
    python -m tests.lab.run firmware [--kernel ...] [--scenario NAME ...]

``recordings`` writes ``recordings/<series>/<scenario>.tar.gz`` (SeaBIOS) or
``recordings/<series>-uefi/<scenario>.tar.gz`` (UEFI, OVMF) and prints a progress
line per boot and a summary table (boot seconds, retries, per-node zones from
/proc/zoneinfo); ``table`` prints the zones of the existing recordings without booting;
``firmware`` what UEFI changes against SeaBIOS in each scenario recorded under both
(tests/lab/firmware_diff.py).
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tests.lab import firmware_diff, kernels, qemu, recording
from tests.lab.scenario import ALL_KERNELS, FIRMWARES, Scenario, ScenarioError, load_all


@dataclass
class Result:
    scenario: str
    series: str
    seconds: float
    retries: int
    layout: str
    error: str = ""


def record_one(sc: Scenario, kernel: kernels.Kernel, out_dir: Path, firmware: str = "seabios") -> Result:
    """Boot ``sc`` on ``kernel`` under ``firmware`` and write its recording."""
    series = recording.series_dir(kernel.series, firmware)
    try:
        b = qemu.boot(sc, kernel, firmware=firmware)
    except qemu.BootError as exc:
        return Result(sc.name, series, 0.0, 1, "", str(exc))
    rec = recording.record(b.snapshot, sc.text, kernel.release, b.qemu_args, b.host_log, firmware)
    path = out_dir / series / f"{sc.name}.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rec)
    layout = recording.summary(recording.zone_layout(recording.unpack(rec)))
    return Result(sc.name, series, b.seconds, b.retries, layout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lab.run", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["recordings", "table", "firmware"])
    ap.add_argument("--kernel", default="all", choices=[*ALL_KERNELS, "all"])
    ap.add_argument("--firmware", default="seabios", choices=FIRMWARES)
    ap.add_argument("--scenario", nargs="*", default=None, metavar="NAME")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=recording.RECORDINGS)
    args = ap.parse_args(argv)
    try:
        scenarios = load_all(args.scenario)
    except ScenarioError as exc:
        print(f"movcheck lab: {exc}", file=sys.stderr)
        return 2
    series = ALL_KERNELS if args.kernel == "all" else (args.kernel,)
    if args.command == "table":
        return _table(scenarios, series, args.out, args.firmware)
    if args.command == "firmware":
        return firmware_diff.print_table(scenarios, series)
    try:
        resolved = {s: kernels.resolve(s) for s in series}
    except kernels.KernelUnavailable as exc:
        print(f"movcheck lab: {exc}", file=sys.stderr)
        return 3
    for k in resolved.values():
        print(f"kernel {k.series}: {k.release}", flush=True)
    jobs = [(sc, resolved[s]) for sc in scenarios for s in series
            if s in sc.kernels and args.firmware in sc.firmwares]
    started = time.monotonic()
    results: list[Result] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(record_one, sc, k, args.out, args.firmware): (sc, k) for sc, k in jobs}
        for i, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            results.append(r)
            status = f"FAILED: {r.error}" if r.error else f"{r.seconds:5.1f} s, retries {r.retries}"
            print(f"[{i}/{len(jobs)}] {r.scenario} on {r.series}: {status}", flush=True)
    wall = time.monotonic() - started
    results.sort(key=lambda r: (r.scenario, r.series))
    width = max((len(r.scenario) for r in results), default=8)
    print(f"\n{'scenario':{width}}  kernel  boot s  retries  zones (start@pfn+present pages)")
    for r in results:
        print(f"{r.scenario:{width}}  {r.series:6}  {r.seconds:6.1f}  {r.retries:7}  {r.layout or r.error}")
    ok = [r for r in results if not r.error]
    times = sorted(r.seconds for r in ok)
    if times:
        print(f"\n{len(ok)}/{len(results)} boots recorded in {wall:.0f} s wall; boot seconds min {times[0]:.1f} "
              f"median {times[len(times) // 2]:.1f} max {times[-1]:.1f}; "
              f"retries {sum(r.retries for r in results)}")
    return 0 if len(ok) == len(results) else 1


def _table(scenarios: list[Scenario], series: tuple[str, ...], out_dir: Path, firmware: str) -> int:
    missing = 0
    for sc in scenarios:
        for s in series:
            path = out_dir / recording.series_dir(s, firmware) / f"{sc.name}.tar.gz"
            if s not in sc.kernels or firmware not in sc.firmwares:
                continue
            if not path.exists():
                missing += 1
                print(f"{sc.name:32} {s:5} (not recorded)")
                continue
            members = recording.unpack(path.read_bytes())
            print(f"{sc.name:32} {s:5} {recording.summary(recording.zone_layout(members))}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
