"""The audit against what real kernels did: every trial the lab ran (tests/lab/trials.py: offline
each online block through sysfs, unplug each DIMM through QEMU's monitor, on Debian 6.1 and
6.12) is kept beside its recording, and held here against the audit of the day."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from tests.lab.recording import RECORDINGS
from tests.lab.trials import Trial, evidence_path, reassess, table

TRIED = sorted(p for p in RECORDINGS.glob("*/*.tar.gz") if evidence_path(p).exists())
reassessed = cache(reassess)


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name.removesuffix('.tar.gz')}"


def test_every_recording_was_tried() -> None:
    """Every SeaBIOS recording; UEFI recordings where their trials were run (python -m
    tests.lab.trials --firmware uefi): not yet all of them."""
    seabios = [p for p in sorted(RECORDINGS.glob("*/*.tar.gz")) if not p.parent.name.endswith("-uefi")]
    assert [_id(p) for p in seabios] == [_id(p) for p in TRIED if not p.parent.name.endswith("-uefi")]


@pytest.mark.parametrize("path", TRIED, ids=_id)
def test_the_audit_agrees_with_the_kernel(path: Path) -> None:
    trial = reassessed(path)
    assert trial.outcomes and trial.count("not-run") == 0 and trial.count("audit-unknown") == 0, table([trial])
    assert trial.count("MISMATCH") == 0, table([trial])


def test_the_proof_is_not_vacuous() -> None:
    trials: list[Trial] = [reassessed(p) for p in TRIED]
    outcomes = [o for t in trials for o in t.outcomes]
    blocks = [o for o in outcomes if o.what.startswith("block ")]
    dimms = [o for o in outcomes if o.what.startswith("dimm ")]
    # Blocks called offlinable went offline; blocks the kernel refused were called not offlinable.
    assert sum(o.audit is True and o.worked is True for o in blocks) > 300
    assert sum(o.audit is False and o.worked is False for o in blocks) > 100
    # DIMMs called removable were ejected, and the early-allocation estimate was needed at least once.
    assert sum(o.audit is True and o.worked is True for o in dimms) > 10
    assert any("boot-allocations" in o.codes and o.codes == ("boot-allocations",) and o.worked is False
               for o in blocks)
