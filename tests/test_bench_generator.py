"""The benchmark's synthetic snapshots are well-formed and agree with themselves across every file."""
import contextlib
import io
import json
import os

import pytest

from observer.cli import main
from probes import bootlog_events as ev
from probes.bootlog import parse_boot_log, read_boot_log
from probes.iomem import read_iomem
from probes.memmap import read_memmap
from probes.memory_blocks import BLOCK_FILES, group_blocks, read_memory_blocks
from probes.nodes import read_nodes
from probes.root import Root
from probes.srat import read_srat
from probes.zoneinfo import read_zoneinfo
from tests.bench.synth import Layout, cached_snapshot, memblock_debug_log, write_snapshot
from tests.test_memory_blocks import LSMEM, as_lsmem, lsmem_rows

LAYOUT = Layout(blocks=128, nodes=4, hotplug_nodes=2)
PAGES = LAYOUT.block_size // 4096


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bench") / "snap")
    write_snapshot(LAYOUT, path)
    return path


def test_srat_decodes_to_the_layout(snap):
    srat = read_srat(Root(snap))
    assert srat.ok
    got = [(m.proximity_domain, m.base, m.end, m.hotpluggable, m.enabled) for m in srat.value.memory]
    assert got == [(n, s, e, hp, True) for n, s, e, hp in LAYOUT.srat_ranges()]
    assert [p.proximity_domain for p in srat.value.processors] == list(range(LAYOUT.nodes))
    assert any(m.hotpluggable for m in srat.value.memory) and not all(m.hotpluggable for m in srat.value.memory)


def test_blocks_nodes_and_zones_agree(snap):
    root = Root(snap)
    blocks = read_memory_blocks(root, BLOCK_FILES).value  # ``online`` too: the generator writes it
    zones = read_zoneinfo(root).value
    srat = read_srat(root).value
    assert [b.number for b in blocks.blocks] == list(LAYOUT.numbers) and len(blocks.blocks) == LAYOUT.blocks
    online_pages: dict[tuple[int, str], int] = {}
    for b in blocks.blocks:
        start, end = b.number * blocks.block_size, (b.number + 1) * blocks.block_size
        pxm = {m.proximity_domain for m in srat.memory if m.base < end and start < m.end}
        assert pxm == {b.node}, b  # the node link names the SRAT node the block lies in
        assert b.phys_index == b.number and b.online == (b.state == "online")
        if b.state != "online" or b.valid_zones == ("none",):
            continue
        (name,) = b.valid_zones
        z = zones.zone(b.node, name)
        assert z.start_pfn * 4096 <= start and end <= z.end_pfn * 4096, b  # inside its zone's span
        online_pages[(b.node, name)] = online_pages.get((b.node, name), 0) + PAGES
    for (node, name), pages in online_pages.items():
        if name in ("Normal", "Movable"):  # no holes above 4 GiB: present is exactly the online blocks
            assert zones.zone(node, name).present == pages
    low = zones.zone(0, "DMA").present + zones.zone(0, "DMA32").present  # below the hole, less firmware holes
    assert (LAYOUT.low_blocks - 1) * PAGES < low < LAYOUT.low_blocks * PAGES
    hot = [n for n in range(LAYOUT.nodes) if LAYOUT.hotpluggable(n)]
    assert {n for n in range(LAYOUT.nodes) if zones.zone(n, "Movable").present} == set(hot)
    nodes = read_nodes(root).value
    assert nodes.online == frozenset(range(LAYOUT.nodes)) and nodes.has_normal_memory.isdisjoint(hot)
    for node in nodes.nodes:
        assert node.mem_total_kb == sum(z.present for z in zones.zones if z.node == node.number) * 4


def test_firmware_maps_agree(snap):
    root = Root(snap)
    usable = [(s, e + 1) for s, e, kind in LAYOUT.e820 if kind == "usable"]
    assert [(r.start, r.end + 1) for r in read_iomem(root).value.ranges if r.name == "System RAM"] == usable
    assert [(e.start, e.end + 1) for e in read_memmap(root).value if e.type == "System RAM"] == usable
    log = read_boot_log(root).value
    assert log.complete, log.incomplete_reason
    assert [(e.start, e.end) for e in log.e820_map if e.type == "usable"] == usable
    srat = read_srat(root).value
    assert [(e.node, e.start, e.end, e.hotplug) for e in log.srat_ranges] == \
        [(m.proximity_domain, m.base, m.end, m.hotpluggable) for m in srat.memory]
    zones = read_zoneinfo(root).value
    assert log.movable_zone_start == {n: zones.zone(n, "Movable").start_pfn * 4096
                                      for n in range(LAYOUT.nodes) if LAYOUT.hotpluggable(n)}
    assert sorted(log.node_data) == list(range(LAYOUT.nodes))
    assert log.command_line == LAYOUT.cmdline == open(os.path.join(snap, "proc/cmdline")).read().strip()


@pytest.mark.skipif(not os.access(LSMEM, os.X_OK), reason="util-linux lsmem not installed")
def test_lsmem_reads_it_as_movcheck_does(snap):
    assert [as_lsmem(r) for r in group_blocks(read_memory_blocks(Root(snap)).value)] == lsmem_rows(snap)


def test_show_and_audit_run(snap):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["show", "--root", snap]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["audit", "--root", snap, "--json"]) == 0
    doc = json.loads(out.getvalue())
    assert len(doc["blocks"]) == LAYOUT.blocks and not doc["problems"]
    assert {n["node"]: n["removable"] for n in doc["nodes"]} == {n: LAYOUT.hotpluggable(n) for n in range(LAYOUT.nodes)}


def test_check_agrees_with_the_offlined_blocks(snap):
    """The last node's last blocks are offline: its Movable zone ends at the last online block
    (shrink_zone_span), and ``check`` finds zoneinfo and valid_zones as the model predicts."""
    zones = read_zoneinfo(Root(snap)).value
    last = max(b for b in LAYOUT.numbers if b not in LAYOUT.offline)
    assert min(LAYOUT.offline) > last and LAYOUT.node_of(min(LAYOUT.offline)) == LAYOUT.nodes - 1
    assert zones.zone(LAYOUT.nodes - 1, "Movable").end_pfn == (last + 1) * PAGES
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", "--root", snap])
    assert code == 0, out.getvalue()


def test_memblock_debug_log_parses_complete():
    text = memblock_debug_log(256 << 10)
    assert len(text) >= 256 << 10
    log = parse_boot_log(text)
    assert log.complete, log.incomplete_reason
    calls = log.memblock_calls
    assert len(calls) > 1000 and {type(c) for c in calls} == {ev.MemblockRange, ev.MemblockAlloc}
    assert log.e820_map


def test_cached_snapshot_is_written_once(tmp_path):
    lay = Layout(blocks=128, nodes=4, hotplug_nodes=1)
    first = cached_snapshot(lay, str(tmp_path))
    stamp = os.stat(os.path.join(first, "proc/zoneinfo")).st_mtime_ns
    assert cached_snapshot(lay, str(tmp_path)) == first
    assert os.stat(os.path.join(first, "proc/zoneinfo")).st_mtime_ns == stamp
    assert os.listdir(tmp_path) == [os.path.basename(first)]
