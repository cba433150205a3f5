"""Proof on a real kernel: the lab offlines every block and unplugs every DIMM of a scenario,
and the kernel's answers must agree with the audit of that scenario's recording."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.lab import kernels
from tests.lab.recording import RECORDINGS, split_series_dir
from tests.lab.trials import Trial, run_trial, table

#: One scenario per kind of verdict, spread over the series: hot-pluggable node with movable_node,
#: DIMMs onlined movable, Movable boot memory under early top-down allocations (movablecore= on
#: one node), and CMA areas on Debian's stock 7.x (the only series built with CONFIG_CMA).
CASES = (("hp_node2_movable_node", "6.1"), ("coldplug_dimms_online_movable", "6.12"),
         ("no_srat_movablecore", "5.10"), ("hp_node2_movable_node_cma", "7.x"),
         ("hp_node2_movable_node", "7.x-uefi"))


@pytest.fixture(scope="module")
def trials() -> dict[tuple[str, str], Trial]:
    """Every case's trial, two at a time (2-core machine), as tests/lab/trials.py -j 2 runs them."""
    resolved = {s: kernels.resolve(s) for s in {split_series_dir(d)[0] for _, d in CASES}}

    def one(case: tuple[str, str]) -> Trial:
        name, series = case
        path = RECORDINGS / series / f"{name}.tar.gz"
        assert path.exists(), f"{path} missing: run `make recordings`"
        return run_trial(path, resolved[split_series_dir(series)[0]])  # firmware: the recording's

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(one, CASES)))


@pytest.mark.slow
@pytest.mark.parametrize("name,series", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_trials_agree_with_the_audit(trials: dict[tuple[str, str], Trial], name: str, series: str) -> None:
    trial = trials[(name, series)]
    assert not trial.error, trial.error
    assert trial.outcomes and trial.count("not-run") == 0, table([trial])
    assert trial.count("MISMATCH") == 0, table([trial])
    # The audit called something removable and the kernel let it go: the proof is not vacuous.
    assert any(o.audit and o.worked for o in trial.outcomes)
