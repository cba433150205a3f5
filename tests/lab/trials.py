"""Offline and hot-remove trials: does the real kernel let go of what the audit calls removable?

    python -m tests.lab.trials [--kernel 6.1|6.12|all] [--firmware seabios|uefi] [--scenario NAME ...]
                               [--untried] [-j N] [--json FILE]

For each recording ``recordings/<series>[-uefi]/<scenario>.tar.gz`` the scenario is booted
again on the same kernel series and firmware with its own runtime steps, then with trial steps
appended (the lab's step machinery, tests/lab/qemu.py): every memory block the
recording shows online is offlined through sysfs and, when that worked, onlined back
to its zone; then every DIMM still plugged is unplugged through QMP device_del. The
guest's and host's step log says what succeeded. Each outcome is held against the
audit of the recording:

- block: audit ``offlinable`` yes and offline failed is a MISMATCH; ``offlinable`` no
  and offline worked is a mismatch too, unless every reason is ``kernel-zone`` (a
  kernel zone does not guarantee failure: an idle guest often gives such a block up;
  the audit's "no" there means "not guaranteed", a documented limit);
- DIMM: audit ``removable`` against device_del + DEVICE_DELETED + the blocks gone.

What the kernel did is kept beside each recording as ``<scenario>.trials.json``;
tests/test_audit_trials.py holds it against the audit of the day without QEMU.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from observer.audit.verdicts import Audit, audit
from observer.audit.inputs import collect
from observer.audit.reasons import FIRMWARE_CODES
from probes.root import RootError, open_root
from tests.lab import kernels, qemu, recording
from tests.lab.initramfs import WRITE_WAIT
from tests.lab.scenario import ALL_KERNELS, FIRMWARES, Dimm, Scenario, Step, loads

_WRITE = re.compile(r"step (\d+): guest: echo (\S+) > memory(\d+)/state: (ok|FAILED)(.*)")
_HOST_REMOVE = re.compile(r"step (\d+): guest: hotremove (\S+): host says '([^']*)'; memory blocks (\d+) -> (\d+): (ok|FAILED)")


@dataclass
class Outcome:
    """One trial: ``what`` is ``block N`` or ``dimm ID``; ``audit`` the verdict it is held against."""

    what: str
    audit: bool | None
    worked: bool | None  # None: the trial did not run (boot failed or the step was not logged)
    codes: tuple[str, ...]
    detail: str = ""

    @property
    def agreement(self) -> str:
        """agree, MISMATCH, not-guaranteed (kernel zone gave up its block), or not-run."""
        if self.worked is None:
            return "not-run"
        if self.audit is None:
            return "audit-unknown"
        if self.audit == self.worked:
            return "agree"
        if self.worked and not self.audit and set(self.codes) <= {"kernel-zone"}:
            return "not-guaranteed"
        return "MISMATCH"


@dataclass
class Trial:
    scenario: str
    series: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        return sum(o.agreement == kind for o in self.outcomes)


def plugged_dimms(sc: Scenario, steps_log: str) -> list[str]:
    """DIMM ids plugged at the end of the recorded steps: cold-plugged plus hot-added minus removed."""
    ids = [d.id for d in sc.dimms]
    for n, step in enumerate(sc.steps, 1):
        if step.dimm is None:
            continue
        ok = re.search(rf"step {n}: guest: .*: (ok|FAILED)$", steps_log, re.M)
        if not ok or ok.group(1) != "ok":
            continue
        if step.action == "hotadd":
            ids.append(step.dimm.id)
        elif step.action == "hotremove" and step.dimm.id in ids:
            ids.remove(step.dimm.id)
    return ids


def trial_scenario(sc: Scenario, a: Audit, dimms: list[str]) -> Scenario:
    """``sc`` with trial steps after its own: offline + re-online each online block, unplug each DIMM."""
    steps = list(sc.steps)
    for v in a.blocks:
        if v.block.state != "online":
            continue
        back = "online_movable" if v.zones == ["Movable"] else "online_kernel"
        steps += [Step("write", value="offline", blocks=(v.block.number,)),
                  Step("write", value=back, blocks=(v.block.number,))]
    steps += [Step("hotremove", Dimm(d, 0, -1)) for d in dimms]
    # Room for a few offline writes to run into their bound (none did in the 7.2 trials), not for
    # all of them: a hung boot is retried only after the timeout.
    offlines = sum(s.value == "offline" for s in steps)
    return replace(sc, steps=tuple(steps),
                   timeout=sc.timeout + 4 * len(steps) + WRITE_WAIT * min(offlines, 8) + 90 * len(dimms))


def outcomes(a: Audit, first: int, guest_log: str, dimm_ids: list[str], dimm_verdicts: dict[str, tuple]) -> list[Outcome]:
    """The trial steps' results (step numbers from ``first``) against the audit's verdicts."""
    tried: dict[int, tuple[bool, str]] = {}
    removed: dict[str, tuple[bool, str]] = {}
    for line in guest_log.splitlines():
        m = _WRITE.match(line)
        if m and int(m.group(1)) >= first and m.group(2) == "offline":
            tried[int(m.group(3))] = (m.group(4) == "ok", m.group(5).strip())
        m = _HOST_REMOVE.match(line)
        if m and int(m.group(1)) >= first:
            removed[m.group(2)] = (m.group(6) == "ok", f"{m.group(3)}; blocks {m.group(4)} -> {m.group(5)}")
    out = []
    for v in a.blocks:
        if v.block.state != "online":
            continue
        worked, detail = tried.get(v.block.number, (None, "not logged"))
        out.append(Outcome(f"block {v.block.number}", v.offlinable, worked, _offline_codes(v), detail))
    for d in dimm_ids:
        verdict, codes = dimm_verdicts.get(d, (None, ()))
        worked, detail = removed.get(d, (None, "not logged"))
        out.append(Outcome(f"dimm {d}", verdict, worked, codes, detail))
    return out


def dimm_verdicts(a: Audit, sc: Scenario, dimms: list[str]) -> dict[str, tuple[bool | None, tuple[str, ...]]]:
    """The audit's verdict per plugged DIMM id: the hot-added ranges in address order are matched
    to the DIMMs in plug order (QEMU assigns device-memory addresses in that order)."""
    ranges = sorted((r for r in a.ranges if r.kind == "dimm"), key=lambda r: r.start)
    out: dict[str, tuple[bool | None, tuple[str, ...]]] = {}
    for d, r in zip(dimms, ranges):
        out[d] = (r.removable, tuple(x.code for x in r.reasons if x.severity == "blocker"))
    return out


def run_trial(path: Path, kernel: kernels.Kernel) -> Trial:
    """Boot the recording's scenario with trial steps and compare the outcomes with its audit."""
    try:
        with open_root(str(path)) as root:
            text = root.read_text("lab/scenario.toml").value or ""
            log = root.read_text("lab/steps.log").value or ""
            firmware = (root.read_text("lab/firmware").value or "seabios").strip()
            a = audit(collect(root, path.stem))
    except RootError as exc:  # the lab re-recording it under our feet
        return Trial(path.name.removesuffix(".tar.gz"), kernel.series, error=str(exc))
    sc = loads(text, path.name.removesuffix(".tar.gz"), str(path))
    dimms = plugged_dimms(sc, log)
    trial = Trial(sc.name, kernel.series)
    try:
        boot = qemu.boot(trial_scenario(sc, a, dimms), kernel, retries=1, firmware=firmware)
    except qemu.BootError as exc:
        trial.error = str(exc)
        trial.outcomes = outcomes(a, len(sc.steps) + 1, "", dimms, dimm_verdicts(a, sc, dimms))
        return trial
    guest = recording.unpack(boot.snapshot).get("lab/steps.log", recording.Member()).data.decode()
    trial.seconds = boot.seconds
    trial.outcomes = outcomes(a, len(sc.steps) + 1, guest, dimms, dimm_verdicts(a, sc, dimms))
    return trial


def evidence_path(recording_path: Path) -> Path:
    """Where a recording's trial outcomes are kept: ``<scenario>.trials.json`` beside it."""
    return recording_path.with_name(recording_path.name.removesuffix(".tar.gz") + ".trials.json")


def save(trial: Trial, recording_path: Path) -> None:
    """Keep what the real kernel did in each trial (not the audit's verdicts, which
    :func:`reassess` makes again with the audit of the day)."""
    if trial.error or not trial.outcomes:
        return
    rows = [{"what": o.what, "worked": o.worked, "detail": o.detail} for o in trial.outcomes]
    evidence_path(recording_path).write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")


def reassess(recording_path: Path) -> Trial:
    """The kept trial outcomes of a recording held against the current audit of it."""
    rows = json.loads(evidence_path(recording_path).read_text())
    with open_root(str(recording_path)) as root:
        text = root.read_text("lab/scenario.toml").value or ""
        log = root.read_text("lab/steps.log").value or ""
        a = audit(collect(root, recording_path.stem))
    sc = loads(text, recording_path.name.removesuffix(".tar.gz"), str(recording_path))
    dimms = plugged_dimms(sc, log)
    verdicts = dimm_verdicts(a, sc, dimms)
    blocks = {f"block {v.block.number}": v for v in a.blocks}
    trial = Trial(sc.name, recording_path.parent.name)
    for row in rows:
        kind, _, name = row["what"].partition(" ")
        if kind == "block":
            v = blocks.get(row["what"])
            verdict, codes = (None, ()) if v is None else (v.offlinable, _offline_codes(v))
        else:
            verdict, codes = verdicts.get(name, (None, ()))
        trial.outcomes.append(Outcome(row["what"], verdict, row["worked"], codes, row["detail"]))
    return trial


def _offline_codes(v) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """The reasons that speak to offlining (blockers not about the firmware)."""
    return tuple(r.code for r in v.reasons if r.severity == "blocker" and r.code not in FIRMWARE_CODES)


def table(trials: list[Trial]) -> str:
    """The agreement table: one row per scenario and kernel, then every mismatch."""
    kinds = ("agree", "not-guaranteed", "MISMATCH", "audit-unknown", "not-run")
    w = max([8] + [len(t.scenario) for t in trials])
    lines = [f"{'scenario':{w}}  kernel  tried  " + "  ".join(kinds)]
    for t in sorted(trials, key=lambda t: (t.scenario, t.series)):
        lines.append(f"{t.scenario:{w}}  {t.series:6}  {len(t.outcomes):5}  "
                     + "  ".join(f"{t.count(k):{len(k)}}" for k in kinds) + (f"  ({t.error[:60]})" if t.error else ""))
    bad = [(t, o) for t in trials for o in t.outcomes if o.agreement == "MISMATCH"]
    if bad:
        lines += ["", "mismatches:"]
        lines += [f"  {t.scenario} {t.series} {o.what}: audit {o.audit} ({','.join(o.codes) or '-'}), "
                  f"kernel {'let go' if o.worked else 'refused'} ({o.detail[:70]})" for t, o in bad]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lab.trials", description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="all", choices=[*ALL_KERNELS, "all"])
    ap.add_argument("--firmware", default="seabios", choices=FIRMWARES)
    ap.add_argument("--scenario", nargs="*", default=None, metavar="NAME")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--untried", action="store_true", help="only recordings without kept trials")
    ap.add_argument("--json", type=Path, help="also write every outcome as JSON")
    args = ap.parse_args(argv)
    series = ALL_KERNELS if args.kernel == "all" else (args.kernel,)
    jobs = [(p, s) for s in series
            for p in sorted((recording.RECORDINGS / recording.series_dir(s, args.firmware)).glob("*.tar.gz"))
            if (not args.scenario or p.name.removesuffix(".tar.gz") in args.scenario)
            and not (args.untried and evidence_path(p).exists())]
    if not jobs:
        print("movcheck trials: no recordings to try", file=sys.stderr)
        return 3
    resolved = {s: kernels.resolve(s) for s in {s for _, s in jobs}}

    def one(job: tuple[Path, str]) -> Trial:  # saved as soon as it ends: a cut run keeps what it tried
        t = run_trial(job[0], resolved[job[1]])
        save(t, job[0])
        print(f"{t.scenario} {t.series}: {len(t.outcomes)} trials, {t.count('MISMATCH')} mismatches"
              + (f", boot failed: {t.error}" if t.error else f", {t.seconds:.0f} s"), flush=True)
        return t

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        trials = list(pool.map(one, jobs))
    print(table(trials))
    if args.json:
        args.json.write_text(json.dumps([{"scenario": t.scenario, "kernel": t.series, "error": t.error,
                                          "outcomes": [{"what": o.what, "audit": o.audit, "worked": o.worked,
                                                        "codes": list(o.codes), "agreement": o.agreement,
                                                        "detail": o.detail} for o in t.outcomes]}
                                         for t in trials], indent=1))
    return 1 if any(t.count("MISMATCH") for t in trials) else 0


if __name__ == "__main__":
    sys.exit(main())
