"""Advice checked against the real kernel: the change the audit advises, booted for real in the
lab as the paired scenario, must put the memory the advice is about in ZONE_MOVABLE."""
from __future__ import annotations

import json

import pytest

from observer.audit.verdicts import audit
from observer.audit.advice import _edit, plan_diff
from observer.audit.inputs import ZoneSpan
from observer.cli import main
from probes.root import open_root
from probes.zoneinfo import read_zoneinfo
from tests.lab.recording import RECORDINGS
from tests.test_audit import machine

#: (recording, its pair booted with the advised option, the option the advice must add)
PAIRS = [("hp_node2", "hp_node2_movable_node", "movable_node"),
         ("hotadd_online", "hotadd_online_movable", "memhp_default_state=online_movable"),
         ("coldplug_dimms", "coldplug_dimms_online_movable", "memhp_default_state=online_movable")]


@pytest.mark.parametrize("series", ["6.1", "6.12"])
@pytest.mark.parametrize("name,pair,token", PAIRS, ids=[p[0] for p in PAIRS])
def test_advice_is_what_the_real_kernel_does(name: str, pair: str, token: str, series: str, capsys) -> None:  # type: ignore[no-untyped-def]
    path, paired = RECORDINGS / series / f"{name}.tar.gz", RECORDINGS / series / f"{pair}.tar.gz"
    assert path.exists() and paired.exists(), "run `make recordings`"
    assert main(["audit", "--root", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    advice = doc["advice"]
    dimms = [r for r in doc["ranges"] if r["kind"] == "dimm"]
    if name == "coldplug_dimms" and all(r["removable"] for r in dimms):
        # 6.1's build leaves hot-added memory offline: the DIMMs can go as they are, nothing to fix.
        assert dimms and all(b["state"] == "offline" for b in doc["blocks"] if b["hotplugged"]) and advice == []
        return
    assert len(advice) == 1 and advice[0]["checked"] and advice[0]["add"] == [token], advice
    assert advice[0]["diff"], "a fix changes some zone"
    with open_root(str(paired)) as root:
        real = read_zoneinfo(root).value
    assert real is not None
    for target in advice[0]["targets"]:
        if target.startswith("node "):
            node = int(target.split()[1])
            zones = [z for z in real.zones if z.node == node and z.present]
            assert zones and all(z.name == "Movable" for z in zones), (target, zones)
        else:
            lo, hi = (int(x, 16) for x in target.split("-"))
            hit = [z for z in real.zones if z.present and z.start_pfn is not None
                   and z.start_pfn << 12 <= hi and lo < (z.start_pfn + z.spanned) << 12]
            assert hit and all(z.name == "Movable" for z in hit), (target, hit)


def test_edit_drops_the_replaced_option_and_keeps_the_rest() -> None:
    assert _edit("console=ttyS0 memhp_default_state=online quiet", ["memhp_default_state=online_movable"],
                 ["memhp_default_state"]) == "console=ttyS0 quiet memhp_default_state=online_movable"
    assert _edit("a movable_node", ["movable_node"], []) == "a movable_node"


def test_plan_diff_lists_only_changed_zones() -> None:
    before = [ZoneSpan(2, "Normal", 0x140000, 0x80000, 0x80000), ZoneSpan(0, "DMA", 1, 4095, 3998)]
    after = [ZoneSpan(2, "Movable", 0x140000, 0x80000, 0x80000), ZoneSpan(0, "DMA", 1, 4095, 3998)]
    assert plan_diff(before, after) == [
        "node 2 Movable     0B ->     2G  - -> 0x140000000-0x1bfffffff",
        "node 2 Normal      2G ->     0B  0x140000000-0x1bfffffff -> -"]


def test_no_predictor_means_no_unchecked_fix() -> None:
    from observer.audit.advice import advise
    facts = machine(cmdline="console=ttyS0")
    out = advise(facts, audit(facts), [("node", 1, 0)], None)
    assert out[0]["checked"] is False and out[0]["cmdline"] is None
