"""``movcheck plan`` on real captures: it reads no zone output, and the movablemem_map=
proposal gives the layouts its rules call for (derived from real kernels' layouts below)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_model_recordings import CAPTURES, _comparable, _id, _real, _run, _strip
from probes.root import unpack_recording

GIB_PFN = (1 << 30) >> 12


def _named(*names: str) -> list[Path]:
    return [c for c in CAPTURES if c.name[:-7] in names]


def _unpack(cap: Path, tmp: Path) -> Path:
    tmp.mkdir()
    unpack_recording(str(cap), str(tmp))
    return tmp


def _zones(out: str) -> dict:
    return {(z["node"], z["zone"]): (z["start_pfn"] if z["present"] else None, z["spanned"], z["present"])
            for z in json.loads(out)["zones"]}


@pytest.mark.parametrize("cap", CAPTURES, ids=_id)
def test_plan_does_not_read_zone_outputs(cap: Path, tmp_path: Path):
    tree = _unpack(cap, tmp_path / "t")
    _, full = _run("plan", "--root", str(tree), "--json")
    _strip(tree)
    _, stripped = _run("plan", "--root", str(tree), "--json")
    assert json.loads(full) == json.loads(stripped)


@pytest.mark.parametrize("cap", _named("qemu_srat_3node", "hp_node2"), ids=_id)
def test_movablemem_map_user_range(cap: Path, tmp_path: Path):
    """movablemem_map=1G@0x100000000 on the 2G/2G/2G machine: the range [4G,5G) lies on node 1
    (whose RAM is [2G,3G) and [4G,5G)); Movable runs from 4G to node 1's end, so node 1's
    Normal zone of the real boot becomes its Movable zone, and nothing else changes."""
    tree = _unpack(cap, tmp_path / "t")
    real = _comparable(_real(tree), set())
    line = (tree / "proc/cmdline").read_text().strip() + " movablemem_map=1G@0x100000000"
    _strip(tree)
    code, out = _run("plan", "--root", str(tree), "--json", "--cmdline", line)
    assert code == 0
    expected = dict(real)
    expected[(1, "Movable")] = expected.pop((1, "Normal"))
    assert expected[(1, "Movable")][0] == 4 * GIB_PFN
    assert _zones(out) == expected
    assert json.loads(out)["movable_start"] == {"1": 4 * GIB_PFN}


@pytest.mark.parametrize("cap", _named("hp_kernel_node", "hp_initrd_node", "hp_node2_movable_node"), ids=_id)
def test_movablemem_map_acpi_matches_movable_node_here(cap: Path, tmp_path: Path):
    """movablemem_map=acpi uses the SRAT hot-pluggable ranges minus every node holding an early
    reservation (the kernel image on node 0, the initrd on node 1 in hp_initrd_node). On these
    machines that is exactly what movable_node did on the real kernel, so the proposal's layout
    equals the capture's real one, here obtained without movable_node."""
    tree = _unpack(cap, tmp_path / "t")
    real = _comparable(_real(tree), set())
    words = [w for w in (tree / "proc/cmdline").read_text().split() if w != "movable_node"]
    _strip(tree)
    code, out = _run("plan", "--root", str(tree), "--json", "--cmdline", " ".join(words + ["movablemem_map=acpi"]))
    assert code == 0
    assert _zones(out) == real
    assert any(r["rule"] == "movablemem-map" for r in json.loads(out)["rules"])


@pytest.mark.parametrize("cap", _named("hp_node2_movable_node", "qemu_srat_3node_movable_node"), ids=_id)
def test_explain_replays_and_finds_no_divergence(cap: Path, tmp_path: Path):
    tree = _unpack(cap, tmp_path / "t")
    code, out = _run("plan", "--root", str(tree), "--explain")
    assert code == 0
    assert "numa_clear_kernel_node_hotplug" in out and "find_zone_movable_pfns_for_nodes" in out
    assert out.rstrip().endswith("no divergence from the kernel's zone lines")
