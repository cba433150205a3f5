"""Proof on a real kernel: the lab offlines every block and unplugs every DIMM of a scenario,
and the kernel's answers must agree with the audit of that scenario's recording."""
from __future__ import annotations

import pytest

from tests.lab import kernels
from tests.lab.recording import RECORDINGS
from tests.lab.trials import run_trial, table

#: One scenario per kind of verdict: hot-pluggable node with movable_node, DIMMs onlined movable,
#: and Movable boot memory under early top-down allocations (movablecore= on one node).
SCENARIOS = ("hp_node2_movable_node", "coldplug_dimms_online_movable", "no_srat_movablecore")


@pytest.mark.slow
@pytest.mark.parametrize("series", ["6.1", "6.12"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_trials_agree_with_the_audit(name: str, series: str) -> None:
    path = RECORDINGS / series / f"{name}.tar.gz"
    assert path.exists(), f"{path} missing: run `make recordings`"
    trial = run_trial(path, kernels.resolve(series))
    assert not trial.error, trial.error
    assert trial.outcomes and trial.count("not-run") == 0, table([trial])
    assert trial.count("MISMATCH") == 0, table([trial])
    # The audit called something removable and the kernel let it go: the proof is not vacuous.
    assert any(o.audit and o.worked for o in trial.outcomes)
