"""The model on hand-built inputs whose answers follow from the kernel rules (numbers derived below)."""
from __future__ import annotations

from observer.model.boot import predict
from observer.model.inputs import E820Entry, E820Op, ModelInputs, Options, Reservation, SratInfo, SratMemoryRange

G = 1 << 30
# This VM's real map (BIOS-e820 lines of a 6.18 boot with 24 GiB) and the kernel's own edits.
FIRMWARE = (E820Entry(0, 0x9FC00, "usable"), E820Entry(0x9FC00, 0x100000, "reserved"),
            E820Entry(0x100000, 0xC0000000, "usable"), E820Entry(0xEEC00000, 0xFEC00000, "reserved"),
            E820Entry(0x100000000, 0x640000000, "usable"))
TRIM = (E820Op(0, 0x1000, "usable", "reserved"), E820Op(0xA0000, 0x100000, "usable", None))
KERNEL = (Reservation(0x1000000, 0x3C56000, "kernel image"),)


def layout(pred):
    return {(z.node, z.zone): (z.start_pfn, z.spanned, z.present) for z in pred.nonempty()}


def three_nodes(hot2: bool = True) -> SratInfo:
    """Node 0: 0-3G (low RAM) + 4G-8G, node 1: 8G-16G, node 2: 16G-25G (hot-pluggable)."""
    return SratInfo((0, 1, 2), (
        SratMemoryRange(0, 0, 0xC0000000), SratMemoryRange(0, 0x100000000, 2 * 0x100000000),
        SratMemoryRange(1, 0x200000000, 0x400000000),
        SratMemoryRange(2, 0x400000000, 0x640000000, hotpluggable=hot2)))


def test_single_node_matches_this_vm_zoneinfo():
    """The real /proc/zoneinfo of the 6.18 VM these numbers come from: DMA 1/4095/3998,
    DMA32 4096/1044480/782336, Normal 1048576/5505024/5505024."""
    pred = predict(ModelInputs("6.18.44", FIRMWARE, Options(), TRIM, None, KERNEL))
    assert layout(pred) == {(0, "DMA"): (1, 4095, 3998), (0, "DMA32"): (4096, 1044480, 782336),
                            (0, "Normal"): (1048576, 5505024, 5505024)}
    assert pred.movable_start == {}


def test_movable_node_takes_hotplug_node_whole():
    """movable_node: node 2's lowest hot-pluggable pfn 0x400000 starts Movable; Normal on node 2 empties."""
    pred = predict(ModelInputs("6.1.0-1-amd64", FIRMWARE, Options(movable_node=True), TRIM, three_nodes(), KERNEL))
    assert pred.movable_start == {2: 0x400000}
    got = layout(pred)
    assert got[(2, "Movable")] == (0x400000, 0x240000, 0x240000)
    assert (2, "Normal") not in got
    assert got[(1, "Normal")] == (0x200000, 0x200000, 0x200000)


def test_hotplug_flag_without_movable_node_does_nothing():
    pred = predict(ModelInputs("6.1.0-1-amd64", FIRMWARE, Options(), TRIM, three_nodes(), KERNEL))
    assert pred.movable_start == {}


def test_kernel_on_hotplug_node_loses_it():
    """numa_clear_kernel_node_hotplug: with the kernel image on node 2, node 2 is not movable."""
    kernel_on_2 = (Reservation(0x500000000, 0x502000000, "kernel image"),)
    pred = predict(ModelInputs("6.12.95", FIRMWARE, Options(movable_node=True), TRIM, three_nodes(), kernel_on_2))
    assert pred.movable_start == {}
    assert 2 in pred.kernel_nodes


def _up(pfn: int) -> int:
    return -(-pfn // 1024) * 1024


def test_kernelcore_spread_and_restart():
    """kernelcore=6G (1572864 pages) over 3 nodes, share 524288 each. Pass 1: node 0's 786334
    pages below 4 GiB count as kernel memory (required left 786530); node 1 takes 524288
    (left 262242); for node 2 the share drops to 262242 // 3 = 87414 (left 174828). Restart with
    2 nodes: share 174828 // 2 = 87414: node 0 takes 87414 above 4 GiB, node 1 87414 more, left 0."""
    opts = Options(kernelcore_pages=(6 * G) >> 12)
    pred = predict(ModelInputs("6.1.0-1-amd64", FIRMWARE, opts, TRIM, three_nodes(False), KERNEL))
    assert pred.movable_start == {0: _up(0x100000 + 87414), 1: _up(0x200000 + 524288 + 87414),
                                  2: _up(0x400000 + 87414)}


def test_kernelcore_mirror_61_vs_612():
    """Without mirrored memory 6.1 still moves all non-mirrored memory above 4 GiB to Movable
    (Normal, starting at that pfn, empties); 6.2+ ignores kernelcore=mirror."""
    opts = Options(kernelcore_mirror=True)
    old = predict(ModelInputs("6.1.0-1-amd64", FIRMWARE, opts, TRIM, None, KERNEL))
    new = predict(ModelInputs("6.12.95", FIRMWARE, opts, TRIM, None, KERNEL))
    assert old.movable_start == {0: 0x100000}
    assert (0, "Normal") not in layout(old)  # Normal starts at zmp: adjust_zone_range empties it
    assert layout(old)[(0, "Movable")] == (0x100000, 5505024, 5505024)
    assert new.movable_start == {}


def test_mem_cuts_ram_and_normal():
    """mem=5G removes RAM at and above 5 GiB: Normal spans 4G-5G."""
    pred = predict(ModelInputs("6.12.95", FIRMWARE, Options(mem_limit=5 * G), TRIM, None, KERNEL))
    assert layout(pred)[(0, "Normal")] == (0x100000, 0x40000, 0x40000)


def test_srat_rejected_when_ram_uncovered():
    """numa_meminfo_cover_memory: SRAT leaving node 2's RAM uncovered is rejected: one node."""
    srat = SratInfo((0,), (SratMemoryRange(0, 0, 0x400000000),))
    pred = predict(ModelInputs("6.1.0-1-amd64", FIRMWARE, Options(movable_node=True), TRIM, srat, KERNEL))
    assert {z.node for z in pred.nonempty()} == {0}
    assert any("SRAT rejected" in a for a in pred.assumptions)


def test_movablemem_map_user_range_extends_to_node_end():
    """movablemem_map=1G@20G: node 2 (16G-25G) Movable from 20G to its end; SRAT ignored."""
    opts = Options(movablemem_map=((20 * G, 1 * G),))
    pred = predict(ModelInputs("6.1.0-1-amd64", FIRMWARE, opts, TRIM, three_nodes(False), KERNEL))
    assert pred.movable_start == {2: (20 * G) >> 12}
    assert layout(pred)[(2, "Movable")] == ((20 * G) >> 12, 0x640000 - 0x500000, 0x640000 - 0x500000)


def test_movablemem_map_acpi_skips_kernel_node():
    """movablemem_map=acpi: hot-pluggable node 2 Movable from its start; a hot-pluggable range on
    the kernel's node 0 is not used."""
    srat = SratInfo((0, 1, 2), (
        SratMemoryRange(0, 0, 0xC0000000, hotpluggable=True), SratMemoryRange(0, 0x100000000, 0x200000000, hotpluggable=True),
        SratMemoryRange(1, 0x200000000, 0x400000000),
        SratMemoryRange(2, 0x400000000, 0x640000000, hotpluggable=True)))
    pred = predict(ModelInputs("6.1.0-1-amd64", FIRMWARE, Options(movablemem_map="acpi"), TRIM, srat, KERNEL))
    assert pred.movable_start == {2: 0x400000}


def test_movable_node_before_3_14_has_no_zone_rule():
    """3.10 (upstream): find_zone_movable_pfns_for_nodes has no movable_node branch (3.14)."""
    pred = predict(ModelInputs("3.10.0-957.el7.x86_64", FIRMWARE, Options(movable_node=True), TRIM,
                               three_nodes(), KERNEL))
    assert pred.movable_start == {}
    assert ("movable-node-absent" in dict(pred.trace.fired()))


def test_kernelcore_mirror_before_4_6_is_no_option():
    """4.4: "mirror" is not parsed; memparse gives 0 and there is no ZONE_MOVABLE."""
    opts = Options(kernelcore_mirror=True)
    assert predict(ModelInputs("4.4.0-170-generic", FIRMWARE, opts, TRIM, three_nodes(), KERNEL)).movable_start == {}


def test_movablecore_beyond_all_memory_3_10_and_4_4():
    """movablecore= larger than RAM: 4.4 clamps it and (kernelcore >= totalpages) builds no
    ZONE_MOVABLE; 3.10's unsigned totalpages - movablecore wraps, every node stays kernel memory
    and the Movable start sits at the node's end (3.10 has no 'start at node end -> 0')."""
    opts = Options(movablecore_pages=(64 * G) >> 12)
    assert predict(ModelInputs("4.4.0-170-generic", FIRMWARE, opts, TRIM, three_nodes(), KERNEL)).movable_start == {}
    old = predict(ModelInputs("3.10.0-957.el7.x86_64", FIRMWARE, opts, TRIM, three_nodes(), KERNEL))
    assert old.movable_start == {0: 0x200000, 1: 0x400000, 2: 0x640000}
    assert not any(z.zone == "Movable" for z in old.nonempty())


def test_movable_start_at_node_end_is_kept_before_5_18_without_backport():
    """ddbc84f3f595 (5.18; 5.10.y, 5.15.y, 5.17.y backports) drops a Movable start at or past its
    node's end; 4.19 and 5.11 print it. kernelcore=22G on three_nodes(): 22G/3 per node is more
    than node 0's 7 GiB of RAM, so node 0 stays kernel memory and its start lands at its end
    (8 GiB = pfn 0x200000)."""
    opts = Options(kernelcore_pages=(22 * G) >> 12)
    new = predict(ModelInputs("5.18.0", FIRMWARE, opts, TRIM, three_nodes(False), KERNEL))
    for release in ("4.19.0-8-amd64", "5.11.0-40-generic"):
        old = predict(ModelInputs(release, FIRMWARE, opts, TRIM, three_nodes(False), KERNEL))
        assert old.movable_start == {**new.movable_start, 0: 0x200000}, release
    assert 0 not in new.movable_start
