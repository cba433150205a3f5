"""``make bench`` rows for ``movcheck summary`` (issue 19): 10,000 and 100,000 synthetic audit JSON
files and 1,000 recordings, with wall time and peak memory (tests/bench/NOTES.md, "Fleet roll-up").

The audit files are made from the lab's real recordings: each recording is audited once (the
document ``movcheck audit --json --no-advice`` writes), then every synthetic machine takes one of
those documents with its own host name and, for some, another kernel build, firmware vendor or
extra command-line options. The recordings are links named after synthetic hosts to the lab's.
Run alone: ``python -m tests.bench.fleet [--sizes 10000,100000] [--recordings 1000]``.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.bench.synth import CACHE_DIR

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"
#: Bump when the generated files change, so stale caches are rebuilt.
FORMAT = 1
SIZES = (10_000, 100_000)
RECORDING_COPIES = 1_000
STAMP = "2026-01-01T00:00:00+00:00"
RACKS = ("db", "web", "hpc", "batch", "cache")
EXTRA_OPTIONS = (" crashkernel=512M", " hugepages=64", " numa_balancing=disable", " memhp_default_state=online")
TIME = "/usr/bin/time"
#: Machine models in a synthetic fleet, and the share of machines whose layout is another model's.
MODELS = 150
ODD = 0.03


def lab_recordings(per_series: int | None = None) -> list[Path]:
    """The lab's recordings in name order (the first ``per_series`` of each series when given)."""
    out: list[Path] = []
    for series in sorted(p for p in RECORDINGS.iterdir() if p.is_dir()):
        out += sorted(series.glob("*.tar.gz"))[:per_series]
    return out


def audit_text(recording: Path) -> str | None:
    """``movcheck audit --json --no-advice`` of one recording (None when it has nothing to audit)."""
    from observer.audit.verdicts import audit
    from observer.audit.inputs import collect, host_name
    from observer.render.audit import audit_json_chunks
    from probes.root import open_root
    with open_root(str(recording)) as root:
        facts = collect(root, host_name(root, str(recording)))
        if facts.blocks is None and facts.zones is None:
            return None
        return "".join(audit_json_chunks(audit(facts), STAMP))


def base_audits(recordings: list[Path], cache: str | None = None) -> list[str]:
    """The audit documents of ``recordings`` (two processes), kept under ``cache`` when given."""
    def where(rec: Path) -> str | None:
        return os.path.join(cache, f"{rec.parent.name}__{rec.name[:-7]}.json") if cache else None
    todo = [r for r in recordings if not (where(r) and os.path.exists(where(r)))]  # type: ignore[arg-type]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        made = dict(zip(todo, pool.map(audit_text, todo)))
    texts = []
    for rec in recordings:
        path = where(rec)
        if rec in made:
            text = made[rec]
            if path and text is not None:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                Path(path).write_text(text)
        else:
            text = Path(path).read_text()  # type: ignore[arg-type]
        if text is not None:
            texts.append(text)
    return texts


def variant(base: str, head_of: str, host: str, model: tuple[int, bool, str]) -> str:
    """Audit document ``base`` as machine ``host`` with the kernel, firmware and command line of
    document ``head_of`` (the machine's model), changed as ``model`` says: kernel builds older,
    another UEFI vendor, an option more."""
    rest, head_end = base.index('\n  "audited_at"'), head_of.index('\n  "audited_at"')
    head = json.loads(head_of[:head_end].rstrip(",") + "}")
    older, vendor, extra = model
    head["host"] = host
    if older and head.get("kernel"):
        head["kernel"] = re.sub(r"-(\d+)-", lambda m: f"-{max(int(m.group(1)) - older, 1)}-", head["kernel"], count=1)
    if vendor and (head.get("firmware") or {}).get("kind") == "uefi":
        head["firmware"] = dict(head["firmware"], vendor="American Megatrends", version="2.8")
    if head.get("cmdline") is not None:
        head["cmdline"] += extra
    return json.dumps(head, indent=2)[:-2] + "," + base[rest:]


def write_audits(dest: str, n: int, bases: list[str], seed: int = 19) -> None:
    """``n`` audit files ``<rack>-<n>.json`` in the empty directory ``dest``: machines of
    :data:`MODELS` models (a lab audit with a kernel build, firmware vendor and extra option);
    one in :data:`ODD` has another lab audit's layout under its model's kernel and options."""
    rng = random.Random(seed)
    models = [(rng.choice(bases), rng.choice((0, 0, 1, 2)), rng.random() < 0.4, rng.choice(("",) + EXTRA_OPTIONS))
              for _ in range(MODELS)]
    for i in range(n):
        host = f"{RACKS[i % len(RACKS)]}-{i:06d}"
        base, *model = models[rng.randrange(MODELS)]
        body = rng.choice(bases) if rng.random() < ODD else base
        with open(os.path.join(dest, f"{host}.json"), "w") as f:
            f.write(variant(body, base, host, tuple(model)))  # type: ignore[arg-type]


def write_recordings(dest: str, n: int, recordings: list[Path]) -> None:
    """``n`` links ``<rack>-<n>.tar.gz`` in the empty directory ``dest`` to the lab's recordings."""
    for i in range(n):
        os.symlink(recordings[i % len(recordings)], os.path.join(dest, f"{RACKS[i % len(RACKS)]}-{i:06d}.tar.gz"))


def cached(name: str, make: Any) -> str:
    """Directory ``name`` under the bench cache, made by ``make(tmpdir)`` on first use."""
    final = os.path.join(CACHE_DIR, f"fleet-v{FORMAT}", name)
    if not os.path.isdir(final):
        tmp = f"{final}.tmp{os.getpid()}"
        os.makedirs(tmp)
        make(tmp)
        os.rename(tmp, final)
    return final


def _tree_rss_kib(pid: int) -> int:
    """The summed VmRSS of ``pid`` and its descendants (fork-shared pages counted in each)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) if "VmRSS" in status else 0  # type: ignore[union-attr]
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def measure(cmd: list[str]) -> dict[str, float]:
    """Wall seconds, CPU seconds, the largest process's peak RSS (GNU time) and the whole process
    tree's peak RSS (sampled every 20 ms) of one run; raises unless it exits 0 or 1."""
    with tempfile.NamedTemporaryFile("r", prefix="movcheck-bench-") as rss:
        t0 = time.perf_counter()
        proc = subprocess.Popen([TIME, "-f", "%M", "-o", rss.name, *cmd], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        peak = [0]

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], _tree_rss_kib(proc.pid))
                time.sleep(0.02)
        sampler = threading.Thread(target=sample)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.join()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.strip()[:300]}")
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": int(rss.read().split()[-1]) / 1024,
                "tree_rss_mib": peak[0] / 1024}


def bench(sizes: tuple[int, ...] = SIZES, copies: int = RECORDING_COPIES) -> list[dict[str, Any]]:
    """One ``movcheck summary --json`` run per input set (after a warm-up read of the files)."""
    from tests.bench.run import movcheck_cmd
    recs = lab_recordings()
    bases = base_audits(recs, os.path.join(CACHE_DIR, f"fleet-v{FORMAT}", "base"))
    sets = [(f"{n} audit files", cached(f"audits-{n}", lambda d, n=n: write_audits(d, n, bases))) for n in sizes]
    if copies:
        sets.append((f"{copies} recordings",
                     cached(f"recordings-{copies}", lambda d: write_recordings(d, copies, recs))))
    rows = []
    for label, folder in sets:
        subprocess.run(f"find -L {folder} -type f -print0 | xargs -0 cat > /dev/null", shell=True, check=False)
        t = measure(movcheck_cmd() + ["summary", folder, "--json"])
        rows.append({"inputs": label, **{k: round(v, 2) for k, v in t.items()}, "loadavg": os.getloadavg()[0]})
        print(f"# fleet: {label}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'summary over':<20} {'wall s':>7} {'cpu s':>7} {'RSS MiB':>8} {'tree RSS MiB':>12} {'load':>5}")
    for r in rows:
        print(f"{r['inputs']:<20} {r['wall']:>7.1f} {r['cpu']:>7.1f} {r['rss_mib']:>8.1f} {r['tree_rss_mib']:>12.1f} "
              f"{r['loadavg']:>5.1f}")
    print(f"(RSS: the largest process (GNU time); tree: parent and workers summed, sampled; {os.cpu_count()} CPUs)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="synthetic audit files per run")
    ap.add_argument("--recordings", type=int, default=RECORDING_COPIES, help="recordings in the last run (0: none)")
    args = ap.parse_args(argv)
    print_rows(bench(tuple(int(s) for s in args.sizes.split(",")), args.recordings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
