"""Under churn and without root, in a Debian guest (6.1 and 7.x).

Churn: the host hot-adds and ejects DIMMs through QMP in a loop while the guest takes the
hot-added blocks offline and online again through sysfs, and meanwhile runs ``movcheck
show``, ``check``, ``audit --json`` and ``snapshot -o`` over and over. Every run must end
with exit 0, 1 or 3 and valid output, never a traceback; a run that read memory as it changed
reads again or says so (observer/settled.py); a snapshot is consistent or says it is not,
and replays. ``MOVCHECK_CHURN_SECONDS`` sets how long the churn lasts (default 90).

Without root (uid 65534 through ``setpriv``): every command runs, names once each source it
could not read, and exits 3 only when a needed input is missing; a snapshot says what it lacks.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.watchlab.drive import M, add_dimm
from tests.watchlab.guest import Guest, GuestError

pytestmark = pytest.mark.slow
MC = ".venv/bin/python -m observer.cli"
#: A run that hangs is killed with SIGABRT, which (PYTHONFAULTHANDLER) prints where it was, and fails.
HANG = "PYTHONFAULTHANDLER=1 timeout -s ABRT 240"
CHURN_SECONDS = float(os.environ.get("MOVCHECK_CHURN_SECONDS", "90"))
#: The guest's boot memory ends at 2 GiB; the hot-plug window starts at 4 GiB: block 32 on.
FIRST_HOTPLUG_BLOCK = 32

#: An offline whose pages will not migrate retries until a signal (mm/memory_hotplug.c offline_pages):
#: after 30 s the toggle gives up on that block, as an administrator would.
TOGGLE = f"""( while [ ! -e $W/stop ]; do
    for b in {M}/memory*; do n=${{b##*memory}}; [ "$n" -ge {FIRST_HOTPLUG_BLOCK} ] || continue
      timeout 30 sh -c 'echo offline > $0/state' $b; echo online_movable > $b/state; done 2>/dev/null
    sleep 0.1; done ) > /dev/null 2>&1 &"""

RUNS = f"""mkdir -p $W/runs; ( i=0; while [ ! -e $W/stop ]; do
    for c in show check audit snapshot; do [ -e $W/stop ] && [ $i -ge 4 ] && break; i=$((i+1)); o=$W/runs/$i
      case $c in
        audit) {HANG} {MC} audit --json > $o.out 2> $o.err;;
        snapshot) {HANG} {MC} snapshot -o /tmp/snap-$i.tar.gz > $o.out 2> $o.err;;
        *) {HANG} {MC} $c > $o.out 2> $o.err;;
      esac
      echo "$c $?" > $o.rc
      if [ $c = snapshot ] && [ -e /tmp/snap-$i.tar.gz ]; then
        {MC} show --root /tmp/snap-$i.tar.gz > $o.replay 2>&1; echo $? >> $o.replay
        tar -xzOf /tmp/snap-$i.tar.gz movcheck/snapshot-notes > $o.notes 2>/dev/null
        rm -f /tmp/snap-$i.tar.gz
      fi
    done; done; echo done > $W/runs/finished ) > /dev/null 2>&1 &"""


@pytest.fixture(scope="module", params=["6.1", "7.x"])
def guest(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/qemu-system-x86_64"):
        pytest.fail("the churn lab needs root and qemu-system-x86 (make lab-deps)")
    from tests.lab.kernels import resolve
    try:
        g = Guest(resolve(request.param))
    except GuestError as exc:
        pytest.fail(str(exc))
    yield g
    g.close()


def _plug_cycle(g: Guest, i: int) -> tuple[bool, bool]:
    """Hot-add DIMM ``c<i>`` on node 1, let the guest use it a moment, eject it: (added, removed)."""
    added = add_dimm(g, f"c{i}", 1) is None
    time.sleep(2)
    removed = added and "error" not in g.qmp.cmd("device_del", id=f"c{i}") \
        and g.qmp.wait_event("DEVICE_DELETED", 30) is not None
    return added, removed


def test_commands_under_churn(guest: Guest) -> None:
    g = guest
    g.run(TOGGLE)
    g.run(RUNS)
    added = removed = 0
    deadline = time.monotonic() + CHURN_SECONDS
    i = 0
    while time.monotonic() < deadline:
        i += 1
        a, r = _plug_cycle(g, i)
        added, removed = added + a, removed + r
    (g.work / "stop").write_text("")
    end = time.monotonic() + 600  # the command under way ends (a TCG guest on a loaded host is slow)
    while not (g.work / "runs" / "finished").exists():
        assert time.monotonic() < end, "the command loop did not finish"
        time.sleep(1)
    runs = sorted((g.work / "runs").glob("*.rc"), key=lambda p: int(p.stem))
    codes: dict[str, list[int]] = {}
    why: dict[str, set[str]] = {}  # the first stderr line of each run that could not tell
    changed = 0
    for rc in runs:
        cmd, code = rc.read_text().split()
        codes.setdefault(cmd, []).append(int(code))
        out, err = (rc.with_suffix(s).read_text(errors="replace") for s in (".out", ".err"))
        where = f"{cmd} run {rc.stem}: exit {code}: {err[-400:]}"
        assert int(code) in (0, 1, 3), where
        assert "Traceback" not in err and "internal error" not in err, where
        changed += "memory changed while it was read" in err
        if int(code) == 3:
            why.setdefault(cmd, set()).add(err.splitlines()[-1][:160] if err.strip() else "(no message)")
        if cmd == "audit" and int(code) in (0, 1):
            json.loads(out)
        if cmd == "snapshot" and int(code) in (0, 3):
            replay = rc.with_suffix(".replay").read_text().splitlines()
            assert replay[-1] == "0", f"{where}; replay: {replay[-5:]}"
            notes = rc.with_suffix(".notes").read_text() if rc.with_suffix(".notes").exists() else ""
            assert (int(code) == 3) == ("inconsistent:" in notes), f"{where}; notes: {notes}"
    summary = {"series": g.kernel.series, "seconds": CHURN_SECONDS, "dimm_cycles": i, "added": added,
               "removed": removed, "runs": len(runs), "runs_that_read_again_or_gave_up": changed,
               "exit_codes": {c: {str(k): v.count(k) for k in sorted(set(v))} for c, v in codes.items()},
               "exit_3": {c: sorted(v) for c, v in why.items()}}
    print(json.dumps(summary))
    assert added > 0 and removed > 0, summary
    assert len(codes) == 4, summary  # every command ran while memory was churning


NONROOT = "setpriv --reuid=65534 --regid=65534 --clear-groups --"


def test_every_command_without_root(guest: Guest) -> None:
    g = guest
    (g.work / "stop").write_text("")  # the churn loops (if any) end
    results = {}
    for cmd in ("show", "srat", "plan", "check", "audit", "map", "snapshot -o /tmp/nonroot.tar.gz",
                "show --root /tmp/nonroot.tar.gz"):
        out = g.run(f"{NONROOT} {MC} {cmd} > $W/nr.out 2> $W/nr.err; echo rc=$?; cat $W/nr.err")
        code = int(out.split("rc=", 1)[1].split()[0])
        err = out.split("\n", 1)[1] if "\n" in out else ""
        results[cmd] = (code, err.strip())
        assert code in (0, 1, 3), (cmd, code, err)
        assert "Traceback" not in err and "internal error" not in err, (cmd, err)
        # each source that could not be read is named once
        lines = err.splitlines()
        assert len(lines) == len(set(lines)), (cmd, err)
        if code == 3:
            assert "denied" in err or "not permitted" in err or "needs root" in err, (cmd, err)
    print(json.dumps(results, indent=1))
    assert results["show"][0] == 0 and results["audit"][0] in (0, 1)  # the blocks are world-readable
    assert results["srat"][0] == 3 and "SRAT" in results["srat"][1]
    assert results["snapshot -o /tmp/nonroot.tar.gz"][0] == 0
    assert "sys/firmware/acpi/tables/SRAT" in results["snapshot -o /tmp/nonroot.tar.gz"][1]
    notes = g.run("tar -xzOf /tmp/nonroot.tar.gz movcheck/snapshot-notes")
    assert "lacks sys/firmware/acpi/tables/SRAT" in notes, notes
