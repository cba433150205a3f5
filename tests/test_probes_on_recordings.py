"""Every static probe on every QEMU recording (recordings/<kernel>/<scenario>.tar.gz)."""
import glob
import os
import shutil
from pathlib import Path

import pytest

from probes.cmdline import read_cmdline
from probes.hotplug_params import read_hotplug_params
from probes.iomem import read_iomem
from probes.kernel import read_release
from probes.memmap import read_memmap
from probes.memory_blocks import MEMORY_DIR, group_blocks, read_memory_blocks
from probes.nodes import read_nodes
from probes.reading import Status
from probes.root import Root
from probes.snapshot import write_snapshot
from probes.srat import read_srat
from probes.zoneinfo import read_zoneinfo
from tests.test_memory_blocks import as_lsmem, lsmem_rows
from tests.vmdata import _unpacked

REPO = Path(__file__).resolve().parent.parent
RECORDINGS = sorted(glob.glob(str(REPO / "recordings/*/*.tar.gz")))
REQUIRED = (read_cmdline, read_zoneinfo, read_iomem, read_memmap, read_memory_blocks, read_nodes,
            read_hotplug_params, read_release)


def root_of(path: str) -> Root:
    return Root(_unpacked(path))


def ids(paths):
    return [os.path.relpath(p, REPO / "recordings") for p in paths]


@pytest.mark.parametrize("path", RECORDINGS, ids=ids(RECORDINGS))
def test_every_probe_reads(path):
    root = root_of(path)
    for fn in REQUIRED:
        r = fn(root)
        assert r.ok, r.describe()
    assert read_srat(root).status in (Status.OK, Status.ABSENT)
    release = root.read_text("lab/kernel-release")
    if release.ok:
        assert read_release(root).value.raw == release.value.strip()


@pytest.mark.parametrize("path", RECORDINGS, ids=ids(RECORDINGS))
def test_blocks_agree_with_nodes_and_zones(path):
    root = root_of(path)
    blocks, nodes, zones = read_memory_blocks(root).value, read_nodes(root).value, read_zoneinfo(root).value
    # N_MEMORY holds the nodes with online memory (mm/memory_hotplug.c node_states_set_node).
    assert {b.node for b in blocks.blocks if b.state == "online"} == nodes.has_memory
    assert {n.number for n in nodes.nodes} == nodes.online
    for b in blocks.blocks:
        if b.state != "online" or b.valid_zones == ("none",):
            continue
        # An online block starts inside the span of the zone valid_zones names, on its node
        # (its tail may be a hole past the zone's end, as below 3 GiB on QEMU's pc machine).
        (name,) = b.valid_zones
        zone = zones.zone(b.node, name)
        first_pfn = blocks.start(b) >> 12
        assert zone.start_pfn <= first_pfn < zone.end_pfn, (b, zone)
    for n in nodes.nodes:  # node meminfo's MemTotal (kB) is the managed pages of its zones
        managed = sum(z.managed for z in zones.zones if z.node == n.number)
        assert n.mem_total_kb == managed * 4


@pytest.mark.parametrize("path", RECORDINGS, ids=ids(RECORDINGS))
def test_grouping_matches_lsmem_and_snapshot_round_trips(path, tmp_path):
    root = root_of(path)
    shutil.copytree(root.prefix, tmp_path / "rec", symlinks=True)
    ours, theirs = [as_lsmem(g) for g in group_blocks(read_memory_blocks(root).value)], lsmem_rows(tmp_path / "rec")
    # A block linked to two nodes: lsmem keeps the last link its readdir meets, an order each
    # filesystem sets (tmpfs: newest first); movcheck the highest node, the one the kernel linked last.
    for rows, ours_ in ((ours, True), (theirs, False)):
        for row in rows:
            links = sorted(int(p.name[4:]) for p in (tmp_path / "rec" / MEMORY_DIR / f"memory{row['block']}").glob("node*"))
            if len(links) > 1:
                assert row["node"] == links[-1] if ours_ else row["node"] in links, row
                row["node"] = "either"
    assert ours == theirs
    write_snapshot(root, str(tmp_path / "again"))
    again = Root(tmp_path / "again")
    for fn in REQUIRED + (read_srat,):
        assert fn(again) == fn(root)


#: The numbers below are SeaBIOS's map; UEFI's fragmented low map gives other present counts
#: (test_model_recordings holds those against the model).
AUTO_MOVABLE = [p for p in RECORDINGS if p.endswith("/auto_movable_ratio301.tar.gz") and "-uefi/" not in p]


@pytest.mark.parametrize("path", AUTO_MOVABLE, ids=ids(AUTO_MOVABLE))
def test_auto_movable_scenario_exact(path):
    """Three 2G nodes, node 2 without CPUs, a hot-pluggable SRAT window, two DIMMs onlined movable
    by the auto-movable policy; 5.10 has no online_policy (5.15) and onlines them into Normal."""
    root = root_of(path)
    zones = read_zoneinfo(root).value
    populated = [(z.node, z.name, z.start_pfn, z.spanned, z.present) for z in zones.zones if z.present]
    head = [(0, "DMA", 1, 4095, 3998), (0, "DMA32", 4096, 520192, 520192), (1, "DMA32", 524288, 524288, 262112)]
    groups = [(g.first, g.last, g.node, g.valid_zones) for g in group_blocks(read_memory_blocks(root).value)]
    boot = [(0, 0, 0, ("none",)), (1, 15, 0, ("DMA32",)), (16, 23, 1, ("DMA32",)), (32, 39, 1, ("Normal",)),
            (40, 55, 2, ("Normal",))]
    if "/5.10/" in path:
        assert populated == head + [(1, "Normal", 1048576, 1310720, 786432), (2, "Normal", 1310720, 1572864, 1048576)]
        assert groups == boot + [(56, 71, 1, ("Normal",)), (72, 87, 2, ("Normal",))]
    else:
        assert populated == head + [
            (1, "Normal", 1048576, 262144, 262144), (1, "Movable", 1835008, 524288, 524288),
            (2, "Normal", 1310720, 524288, 524288), (2, "Movable", 2359296, 524288, 524288)]
        assert groups == boot + [(56, 71, 1, ("Movable",)), (72, 87, 2, ("Movable",))]
    srat = read_srat(root).value
    assert [(m.proximity_domain, m.base, m.length, m.hotpluggable) for m in srat.memory] == [
        (0, 0, 0xA0000, False), (0, 0x100000, 0x7FF00000, False), (1, 0x80000000, 0x40000000, False),
        (1, 0x100000000, 0x40000000, False), (2, 0x140000000, 0x80000000, False),
        (2, 0x1C0000000, 0x380000000, True)]
    cmd = read_cmdline(root).value
    assert cmd.memhp_default_state == "online" and cmd.nokaslr
    assert (cmd.memory_hotplug.online_policy, cmd.memory_hotplug.auto_movable_ratio) == ("auto-movable", 301)
    nodes = read_nodes(root).value
    assert nodes.has_cpu == {0, 1} and [sorted(n.cpus) for n in nodes.nodes] == [[0], [1], []]
