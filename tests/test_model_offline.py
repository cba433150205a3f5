"""Boot blocks offlined at run time (mm/memory_hotplug.c offline_pages -> adjust_present_page_count,
remove_pfn_range_from_zone -> shrink_zone_span), on hand-built zones and inputs.

Numbers: 128 MiB blocks are 32768 pages; block N starts at pfn N * 32768. The inputs are the
6.18 VM map of tests/test_model.py (RAM to 25 GiB, blocks up to 199)."""
from __future__ import annotations

from dataclasses import replace

from observer.model.boot import predict
from observer.model.hotplug import LiveZone, offline_block, shrink_zone_span
from observer.model.inputs import BlockInfo, ModelInputs, Options
from tests.test_model import FIRMWARE, KERNEL, TRIM, G, layout, three_nodes

BLOCK = 32768  # pages in a 128 MiB block
MB128 = 128 << 20


def _zone(first: int, blocks: int) -> LiveZone:
    return LiveZone(first * BLOCK, blocks * BLOCK, blocks * BLOCK, blocks * BLOCK)


def _blocks(first: int, blocks: int) -> list[tuple[int, int]]:
    return [(first * BLOCK, (first + blocks) * BLOCK)]


def test_first_block_moves_the_start_to_the_next_online_block():
    z = _zone(10, 4)  # blocks 10-13
    offline_block(z, 10 * BLOCK, BLOCK, _blocks(11, 3), early=True)
    assert (z.start, z.spanned, z.present, z.present_early) == (11 * BLOCK, 3 * BLOCK, 3 * BLOCK, 3 * BLOCK)


def test_last_block_shrinks_past_offline_holes():
    """Block 12 went offline first (a hole: span kept); then 13, the last: the end drops to 12's
    start, the end of the last online block (find_biggest_section_pfn skips offline sections)."""
    z = _zone(10, 4)
    offline_block(z, 12 * BLOCK, BLOCK, _blocks(10, 2) + _blocks(13, 1), early=True)
    assert (z.start, z.spanned, z.present) == (10 * BLOCK, 4 * BLOCK, 3 * BLOCK)
    offline_block(z, 13 * BLOCK, BLOCK, _blocks(10, 2), early=True)
    assert (z.start, z.spanned, z.present) == (10 * BLOCK, 2 * BLOCK, 2 * BLOCK)


def test_last_online_block_empties_the_zone():
    z = _zone(10, 1)
    offline_block(z, 10 * BLOCK, BLOCK, [], early=False)
    assert (z.start, z.spanned, z.present, z.present_early) == (0, 0, 0, BLOCK)


def test_edge_lands_on_the_subsection_holding_the_last_online_page():
    """Online pages of the zone end inside a 2 MiB subsection: the kernel steps down by whole
    subsections and takes the subsection's last pfn, so the span ends at the subsection's end."""
    z = LiveZone(0, 2 * BLOCK, BLOCK + 1000, BLOCK + 1000)
    shrink_zone_span(z, BLOCK, 2 * BLOCK, [(0, 1024)])  # pages [0, 1000) widened to the subsection
    assert (z.start, z.spanned) == (0, 1024)


def test_range_not_at_an_edge_keeps_the_span():
    z = _zone(10, 4)
    shrink_zone_span(z, 11 * BLOCK, 12 * BLOCK, _blocks(10, 1) + _blocks(12, 2))
    assert (z.start, z.spanned) == (10 * BLOCK, 4 * BLOCK)


def _node_blocks(first: int, last: int, node: int, offline: set[int]) -> tuple[BlockInfo, ...]:
    return tuple(BlockInfo(n, n * MB128, (n + 1) * MB128, node, n not in offline) for n in range(first, last + 1))


def test_movable_node_offline_first_middle_and_last_blocks():
    """movable_node: node 2 [16G,25G) is Movable, blocks 128-199. Offline 128 (first), 150, 198,
    199 (last): start 129, end 198, present 68 blocks; offline blocks still prefer Movable."""
    blocks = _node_blocks(128, 199, 2, {128, 150, 198, 199})
    pred = predict(ModelInputs("6.12.95", FIRMWARE, Options(movable_node=True), TRIM, three_nodes(), KERNEL,
                               blocks=blocks))
    assert layout(pred)[(2, "Movable")] == (129 * BLOCK, 69 * BLOCK, 68 * BLOCK)
    zones = {b.number: b.valid_zones for b in pred.blocks}
    assert [zones[n] for n in (128, 129, 150, 198, 199)] == ["Movable Normal", "Movable", "Movable Normal",
                                                             "Movable Normal", "Movable Normal"]
    assert "offline-boot" in dict(pred.trace.fired())


def test_movablecore_first_movable_block_offline_goes_back_to_normal():
    """movablecore=2G on one node: Normal [4G,23G), Movable [23G,25G) = blocks 184-199. Offline 184:
    Movable starts at 185, so 184 meets neither span and, without movable_node, onlines to Normal
    by default (default_zone_for_pfn): "Normal Movable"; before, it met Movable only."""
    opts = Options(movablecore_pages=2 * G // 4096)
    base = ModelInputs("6.12.95", FIRMWARE, opts, TRIM, None, KERNEL, blocks=_node_blocks(176, 199, 0, set()))
    assert layout(predict(base))[(0, "Movable")] == (184 * BLOCK, 16 * BLOCK, 16 * BLOCK)
    pred = predict(replace(base, blocks=_node_blocks(176, 199, 0, {184, 199})))
    got = layout(pred)
    assert got[(0, "Movable")] == (185 * BLOCK, 14 * BLOCK, 14 * BLOCK)
    assert got[(0, "Normal")] == (1048576, 184 * BLOCK - 1048576, 184 * BLOCK - 1048576)
    zones = {b.number: b.valid_zones for b in pred.blocks}
    assert (zones[183], zones[184], zones[185], zones[199]) == ("Normal", "Normal Movable", "Movable", "Normal Movable")


def test_what_if_boots_with_every_boot_block_online():
    blocks = _node_blocks(128, 199, 2, {128, 199})
    pred = predict(ModelInputs("6.12.95", FIRMWARE, Options(movable_node=True), TRIM, three_nodes(), KERNEL,
                               blocks=blocks, replay_onlining=True))
    assert layout(pred)[(2, "Movable")] == (128 * BLOCK, 72 * BLOCK, 72 * BLOCK)
    assert {b.valid_zones for b in pred.blocks} == {"Movable"}
