"""The boot-log probe against real logs (tests/data/bootlog/, recordings/) and hostile input.

tests/data/bootlog/ holds the early-boot part of real kernel logs: this machine's
(a Firecracker VM without SRAT) and QEMU TCG guests of Debian's 6.1.0-50-amd64 and
6.12.95+deb12-amd64 (``nokaslr log_buf_len=4M``), named kernel-scenario; the
``.srat`` beside each is the table the guest exposed in /sys/firmware/acpi/tables.
"""
from __future__ import annotations

import glob
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import bootlog
from probes import bootlog_events as ev
from probes.bootlog import DMESG_PATH, BootLog, parse_boot_log, read_boot_log, read_boot_log_text
from probes.kmsg import kmsg_record_to_dmesg
from probes.reading import ParseError, Status
from probes.root import Root, open_root
from probes.srat import SRAT_PATH, parse_srat, read_srat

DATA = Path(__file__).parent / "data" / "bootlog"
RECORDINGS = Path(__file__).parent.parent / "recordings"
LOGS = sorted(DATA.glob("*.dmesg"))
K61, K612 = "6.1.0-50-amd64", "6.12.95+deb12-amd64"
MiB = 1 << 20


def load(name: str) -> BootLog:
    return parse_boot_log((DATA / f"{name}.dmesg").read_text())


def spans(events: list) -> list[tuple]:
    return [(e.node, e.start, e.end) for e in events]


# --- every real log ------------------------------------------------------------------

@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.stem)
def test_every_real_log_is_complete_and_in_order(path: Path) -> None:
    log = parse_boot_log(path.read_text())
    assert log.complete, log.incomplete_reason
    assert log.events[0].kind == "release" and log.events[0].line == 1
    lines = [e.line for e in log.events]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)
    assert log.command_line is not None and log.e820_map
    for e in log.events:
        if hasattr(e, "start") and e.start is not None and hasattr(e, "end"):
            assert e.start <= e.end


def test_release_and_command_line() -> None:
    log = load("k61-3node-crashkernel-memmap-kernelcore")
    assert log.release == K61
    assert log.command_line == ("console=ttyS0 nokaslr log_buf_len=4M panic=-1 crashkernel=256M "
                                "memmap=64M$0x180000000 kernelcore=1G mem=7G")
    early, late = log.of(ev.CommandLine)
    assert (early.early, early.line, late.early, late.line) == (True, 2, False, 119)
    assert load("k612-3node-plain").release == K612


# --- e820 -------------------------------------------------------------------------------

def test_bios_e820_map_end_exclusive() -> None:
    log = load("k612-3node-plain")
    assert [(e.start, e.end, e.type) for e in log.e820_map] == [
        (0x0, 0x9fc00, "usable"),
        (0x9fc00, 0xa0000, "reserved"),
        (0xf0000, 0x100000, "reserved"),
        (0x100000, 0xbffe0000, "usable"),
        (0xbffe0000, 0xc0000000, "reserved"),
        (0xfffc0000, 0x100000000, "reserved"),
        (0x100000000, 0x1c0000000, "usable"),
        (0xfd00000000, 0x10000000000, "reserved"),
    ]
    assert log.user_map == []
    update, remove = log.of(ev.E820Change)
    assert (update.op, update.start, update.end, update.old_type, update.new_type) == \
        ("update", 0, 0x1000, "usable", "reserved")
    assert (remove.op, remove.start, remove.end, remove.old_type, remove.new_type) == \
        ("remove", 0xa0000, 0x100000, "usable", None)


@pytest.mark.parametrize("kernel", ["k61", "k612"])
def test_user_defined_map_from_mem_and_memmap(kernel: str) -> None:
    log = load(f"{kernel}-3node-crashkernel-memmap-kernelcore")
    # mem=7G removes usable RAM from 7 GiB for ULLONG_MAX - 7 GiB bytes (e820__range_remove).
    cut = log.of(ev.E820Change)[0]
    assert (cut.op, cut.start, cut.end, cut.old_type) == ("remove", 0x1c0000000, (1 << 64) - 1, "usable")
    user = [(e.start, e.end, e.type) for e in log.user_map]
    assert len(user) == 10
    assert user[6:9] == [(0x100000000, 0x180000000, "usable"),
                         (0x180000000, 0x180000000 + 64 * MiB, "reserved"),  # memmap=64M$0x180000000
                         (0x184000000, 0x1c0000000, "usable")]
    assert [t.origin for t in log.of(ev.E820Table)] == ["BIOS-e820", "user"]


def test_modified_map_after_table_upgrade() -> None:
    log = load("k61-3node-hotplug-srat-movable-node")
    modified = [e for e in log.of(ev.E820Entry) if e.origin == "modified"]
    assert (modified[5].start, modified[5].end, modified[5].type) == (0x800000, 0x800150, "ACPI NVS")


# --- SRAT, NUMA, NODE_DATA ----------------------------------------------------------------

def test_srat_lines_plain_6_12() -> None:
    log = load("k612-3node-plain")
    assert [(e.node, e.pxm, e.start, e.end, e.hotplug, e.non_volatile) for e in log.srat_ranges] == [
        (0, 0, 0x0, 0xa0000, False, False),
        (0, 0, 0x100000, 0x80000000, False, False),
        (1, 1, 0x80000000, 0xc0000000, False, False),
        (1, 1, 0x100000000, 0x140000000, False, False),
        (2, 2, 0x140000000, 0x1c0000000, False, False),
        (2, 2, 0x1c0000000, 0x540000000, True, False),  # QEMU's device-memory window (maxmem)
    ]
    assert log.of(ev.SratCpu) == []  # 6.12 no longer prints 'SRAT: PXM -> APIC' at info level


def test_srat_cpu_lines_6_1() -> None:
    cpus = load("k61-3node-plain").of(ev.SratCpu)
    assert [(c.pxm, c.apic_id, c.node, c.x2apic) for c in cpus] == [(0, 0, 0, False), (1, 1, 1, False),
                                                                   (2, 2, 2, False)]


@pytest.mark.parametrize("kernel,node0_start", [("k61", 0x0), ("k612", 0x1000)])
def test_numa_merges_differ_between_kernels(kernel: str, node0_start: int) -> None:
    merges = load(f"{kernel}-3node-plain").of(ev.NumaMerge)
    assert [(m.node, m.first, m.second, m.result) for m in merges] == [
        (0, (node0_start, 0xa0000), (0x100000, 0x80000000), (node0_start, 0x80000000)),
        (1, (0x80000000, 0xc0000000), (0x100000000, 0x140000000), (0x80000000, 0x140000000)),
    ]


@pytest.mark.parametrize("kernel,nd", [
    ("k61", {0: (0x7ffd5000, 0x80000000), 1: (0x13ffd5000, 0x140000000), 2: (0x1bedd3000, 0x1bedfe000)}),
    ("k612", {0: (0x7ffd5680, 0x80000000), 1: (0x13ffd5680, 0x140000000), 2: (0x1bedd3680, 0x1bedfe000)}),
])
def test_node_data_placement(kernel: str, nd: dict) -> None:
    log = load(f"{kernel}-3node-plain")
    assert {n: (e.start, e.end) for n, e in log.node_data.items()} == nd
    assert log.of(ev.NodeDataElsewhere) == []


@pytest.mark.parametrize("kernel,nd2", [("k61", (0x13ffaa000, 0x13ffd5000)),
                                        ("k612", (0x13ffaad00, 0x13ffd5680))])
def test_hotplug_srat_movable_node(kernel: str, nd2: tuple) -> None:
    log = load(f"{kernel}-3node-hotplug-srat-movable-node")
    upgrade, = log.of(ev.AcpiTableUpgrade)
    assert (upgrade.action, upgrade.signature, upgrade.oem_id, upgrade.oem_table_id) == \
        ("override", "SRAT", "BOCHS ", "BXPC    ")
    srat_tables = [t for t in log.of(ev.AcpiTable) if t.signature == "SRAT"]
    assert [(t.address, t.length, t.oem_revision) for t in srat_tables] == [(0x800000, 0x150, 2)]
    assert [(e.node, e.hotplug) for e in log.srat_ranges] == [
        (0, False), (0, False), (1, True), (1, True), (2, True), (2, True)]
    # Node 2 is hot-pluggable and empty of early allocations: its NODE_DATA goes to node 1.
    assert (log.node_data[2].start, log.node_data[2].end) == nd2
    elsewhere, = log.of(ev.NodeDataElsewhere)
    assert (elsewhere.node, elsewhere.on_node) == (2, 1)
    assert log.movable_zone_start == {2: 0x140000000}
    # The memblock dump after NUMA init: only node 2's memory keeps MEMBLOCK_HOTPLUG (node 1 holds the initrd).
    memory = [r for r in log.of(ev.MemblockRegion) if r.table == "memory" and r.node is not None]
    assert [(r.node, r.start, r.end, r.flags) for r in memory] == [
        (0, 0x1000, 0x9f000, 0), (0, 0x100000, 0x80000000, 0), (1, 0x80000000, 0xbffe0000, 0),
        (1, 0x100000000, 0x140000000, 0), (2, 0x140000000, 0x1c0000000, 0x1)]
    ramdisk, = log.of(ev.Ramdisk)
    assert (ramdisk.start, ramdisk.end) == (0xbfee3000, 0xbffe0000)


def test_non_volatile_srat_6_12() -> None:
    log = load("k612-3node-nonvolatile-hotplug-srat")
    assert [(e.node, e.start, e.hotplug, e.non_volatile) for e in log.srat_ranges[4:]] == [
        (2, 0x140000000, True, True), (2, 0x1c0000000, True, True)]
    assert not any(e.non_volatile for e in log.srat_ranges[:4])


def test_disabled_srat_entry_drops_numa_6_1() -> None:
    # The table's fourth memory entry (node 1, 4-5 GiB) is disabled: the kernel prints no line for it,
    # its RAM is uncovered, and the kernel gives up on the SRAT and fakes one node.
    log = load("k61-3node-disabled-srat-entry")
    assert [(e.node, e.start, e.end) for e in log.srat_ranges] == [
        (0, 0, 0xa0000), (0, 0x100000, 0x80000000), (1, 0x80000000, 0xc0000000),
        (2, 0x140000000, 0x1c0000000), (2, 0x1c0000000, 0x540000000)]
    rejected, = log.of(ev.NumaCoverageRejected)
    assert (rejected.covered, rejected.e820_ram) == (5119 * MiB, 6143 * MiB)
    assert [n.what for n in log.of(ev.NumaNote)] == ["no_config"]
    assert [(f.node, f.start, f.end) for f in log.of(ev.FakeNode)] == [(None, 0, 0x1c0000000)]
    assert log.events.index(rejected) < log.events.index(log.of(ev.FakeNode)[0])


def test_numa_off_fakes_one_node() -> None:
    log = load("k612-3node-numa-off")
    off, = log.of(ev.NumaNote)
    fake, = log.of(ev.FakeNode)
    assert off.what == "off" and (fake.node, fake.start, fake.end) == (None, 0, 0x1c0000000)
    assert log.srat_ranges == [] and spans(log.early_node_ranges) == [
        (0, 0x1000, 0x9f000), (0, 0x100000, 0xbffe0000), (0, 0x100000000, 0x1c0000000)]


@pytest.mark.parametrize("kernel", ["k61", "k612"])
def test_numa_off_both_kernels(kernel: str) -> None:
    log = load(f"{kernel}-3node-numa-off")
    assert [n.what for n in log.of(ev.NumaNote)] == ["off"]
    assert [(f.node, f.start, f.end) for f in log.of(ev.FakeNode)] == [(None, 0, 0x1c0000000)]
    assert list(log.node_data) == [0] and log.movable_zone_start == {}


@pytest.mark.parametrize("kernel,node0_start", [("k61", 0x0), ("k612", 0x1000)])
def test_numa_fake_nodes(kernel: str, node0_start: int) -> None:
    log = load(f"{kernel}-1node-numa-fake-2")
    split = 0x40000000 + node0_start  # the first fake node is 1024 MB from where node 0 starts
    assert [(f.node, f.start, f.end) for f in log.of(ev.FakeNode)] == [
        (0, node0_start, split), (1, split, 0x7ffe0000)]
    note, = log.of(ev.NumaNote)
    assert (note.what, note.count) == ("distance_table", 2)
    assert [(z.zone, z.start, z.end) for z in log.zone_ranges] == [
        ("DMA", 0x1000, 0x1000000), ("DMA32", 0x1000000, 0x7ffe0000), ("Normal", None, None),
        ("Device", None, None)]


def test_movablecore_percent_6_12() -> None:
    log = load("k612-3node-movablecore-memblock-debug")
    assert log.movable_zone_start == {1: 0x135800000, 2: 0x16ac00000}
    assert "movablecore=25%" in (log.command_line or "")


def test_host_without_srat() -> None:
    path, = DATA.glob("host-*.dmesg")
    log = parse_boot_log(path.read_text())
    assert log.complete and log.release == path.stem.split("-firecracker")[0].removeprefix("host-")
    assert [n.what for n in log.of(ev.NumaNote)] == ["no_config"]
    fake, = log.of(ev.FakeNode)
    assert (fake.start, fake.end) == (0, 0x640000000)
    assert (log.node_data[0].start, log.node_data[0].end) == (0x63ffd5500, 0x640000000)
    ramdisk, = log.of(ev.Ramdisk)
    assert (ramdisk.start, ramdisk.end, ramdisk.usec) == (0xbf8b0000, 0xc0000000, 454)
    totals, = log.of(ev.MemoryTotals)
    assert (totals.available, totals.total, totals.reserved) == (3218180 << 10, 25165432 << 10, 496564 << 10)


# --- zones --------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", ["k61", "k612"])
def test_zone_lines_with_kernelcore(kernel: str) -> None:
    log = load(f"{kernel}-3node-crashkernel-memmap-kernelcore")
    assert [(z.zone, z.start, z.end) for z in log.zone_ranges] == [
        ("DMA", 0x1000, 0x1000000), ("DMA32", 0x1000000, 0x100000000),
        ("Normal", 0x100000000, 0x1c0000000), ("Device", None, None)]
    assert log.movable_zone_start == {1: 0x100000000, 2: 0x140000000}
    assert spans(log.early_node_ranges) == [
        (0, 0x1000, 0x9f000), (0, 0x100000, 0x80000000), (1, 0x80000000, 0xbffe0000),
        (1, 0x100000000, 0x140000000), (2, 0x140000000, 0x180000000), (2, 0x184000000, 0x1c0000000)]
    assert spans(log.of(ev.InitmemSetup)) == [
        (0, 0x1000, 0x80000000), (1, 0x80000000, 0x140000000), (2, 0x140000000, 0x1c0000000)]
    assert [(u.node, u.zone, u.pages) for u in log.of(ev.UnavailablePages)] == [
        (0, "DMA", 1), (0, "DMA", 97), (1, "Movable", 32), (2, "Movable", 16384)]


@pytest.mark.parametrize("kernel", ["k61", "k612"])
def test_crashkernel_formats_agree(kernel: str) -> None:
    # 6.1: 'Reserving 256MB of memory at 2800MB'; 6.12: 'crashkernel reserved: 0xaf000000 - 0xbf000000'.
    crash, = load(f"{kernel}-3node-crashkernel-memmap-kernelcore").of(ev.Crashkernel)
    assert (crash.start, crash.end, crash.low) == (2800 * MiB, 2800 * MiB + 256 * MiB, False)
    assert crash.start == 0xaf000000


@pytest.mark.parametrize("line,area", [
    # mm/cma.c cma_declare_contiguous_nid. 6.1 prints no node; 6.12 adds ' on node %d'
    # (-1: NUMA_NO_NODE, the cma= area). Lines from public arm64 and 32-bit ARM boot logs.
    ("[    0.000000] cma: Reserved 32 MiB at 0x0000000880000000 on node -1", (0x880000000, 32, -1)),
    ("cma: Reserved 16 MiB at 0x4f000000 on node -1", (0x4f000000, 16, -1)),
    ("[    0.000000] cma: Reserved 512 MiB at 0x00000000c0000000", (0xc0000000, 512, None)),
])
def test_cma_reserved_line(line: str, area: tuple) -> None:
    cma, = parse_boot_log(line + "\n").of(ev.CmaReserved)
    start, mib, node = area
    assert (cma.start, cma.end, cma.node) == (start, start + mib * MiB, node)


@pytest.mark.parametrize("kernel,node", [("k61cma", None), ("k612cma", -1)])
def test_cma_area_where_cma_eq_placed_it(kernel: str, node: int | None) -> None:
    # cma=256M@5G on 6.1 and 6.12 builds with CONFIG_CMA=y: a fixed placement at the start of node 2,
    # reserved in setup_arch after the NODE_DATA allocations (dma_contiguous_reserve).
    log = load(f"{kernel}-3node-movable-node-cma")
    cma, = log.of(ev.CmaReserved)
    assert (cma.start, cma.end, cma.node, cma.line) == (5 << 30, (5 << 30) + 256 * MiB, node, 72)
    assert max(e.line for e in log.of(ev.NodeData)) < cma.line
    # Not a model input: reserved after numa_clear_kernel_node_hotplug read memblock.reserved, and
    # the zone spans follow memblock.memory only (the model predicts this boot's zoneinfo as is).
    assert cma not in log.reservations


def test_cma_failures_and_allocation_noise_are_no_area() -> None:
    log = parse_boot_log("cma: Failed to reserve 512 MiB\n"
                         "cma: cma_alloc: reserved: alloc failed, req-size: 16 pages, ret: -12\n"
                         "cma: number of available pages: => 0 free of 8192 total pages\n")
    assert log.events == ()


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_debian_amd64_ignores_cma(series: str) -> None:
    # Debian's amd64 configs have CONFIG_CMA off: cma= is an unknown option and no area is reserved.
    with open_root(str(RECORDINGS / series / "hp_node2_movable_node_cma.tar.gz")) as root:
        text = root.read_text(DMESG_PATH).value
    assert text is not None and 'Unknown kernel command line parameters "nokaslr cma=256M@5G"' in text
    log = parse_boot_log(text)
    assert "cma=256M@5G" in (log.command_line or "") and log.of(ev.CmaReserved) == []


# --- memblock=debug -----------------------------------------------------------------------

@pytest.mark.parametrize("kernel,counts,caller,first_line", [
    ("k61", {"memblock_add": 3, "memblock_reserve": 75, "memblock_phys_free": 6},
     "e820__memblock_setup+0x65/0x7d", 22),
    ("k612", {"memblock_add": 3, "memblock_reserve": 72, "memblock_phys_free": 6},
     "e820__memblock_setup+0x73/0xb0", 25),
])
def test_memblock_debug_ranges(kernel: str, counts: dict, caller: str, first_line: int) -> None:
    log = load(f"{kernel}-2node-memblock-debug")
    ranges = log.of(ev.MemblockRange)
    assert {f: sum(r.func == f for r in ranges) for f in counts} == counts
    adds = [r for r in ranges if r.func == "memblock_add"]
    assert [(r.start, r.end, r.caller, r.node) for r in adds] == [
        (0x1000, 0x9fc00, caller, None), (0x100000, 0xbffe0000, caller, None),
        (0x100000000, 0x140000000, caller, None)]
    assert len(log.memblock_calls) == {"k61": 146, "k612": 140}[kernel]
    assert load(f"{kernel}-3node-plain").memblock_calls == []
    first = ranges[0]
    assert (first.func, first.start, first.end, first.line) == ("memblock_reserve", 0xf5ba0, 0xf5bb0, first_line)


def test_memblock_debug_allocs_6_1() -> None:
    log = load("k61-3node-hotplug-srat-movable-node")
    allocs = log.of(ev.MemblockAlloc)
    log_buf = next(a for a in allocs if a.caller.startswith("setup_log_buf"))
    assert (log_buf.func, log_buf.size, log_buf.align, log_buf.node, log_buf.min_addr, log_buf.max_addr,
            log_buf.caller) == ("memblock_alloc_try_nid", 4194304, 0x8, -1, 0, 0, "setup_log_buf+0x112/0x337")
    upgrade = next(a for a in allocs if a.caller.startswith("acpi_table_upgrade"))
    assert (upgrade.func, upgrade.size, upgrade.align, upgrade.node, upgrade.max_addr, upgrade.caller) == \
        ("memblock_phys_alloc_range", 336, 0x1000, None, 0xbffe0000, "acpi_table_upgrade+0x247/0x357")
    vmemmap = [a for a in allocs if a.func == "memblock_alloc_try_nid_raw" and a.node == 2]
    assert len(vmemmap) == 16 and {(a.size, a.align, a.min_addr) for a in vmemmap} == {(2 * MiB, 2 * MiB, 16 * MiB)}
    # The allocation lands where the memblock_reserve right after it says.
    after = log.events[log.events.index(upgrade) + 1]
    assert isinstance(after, ev.MemblockRange) and (after.start, after.end) == (0x800000, 0x800150)


def test_memblock_dump_without_nodes_before_numa_init() -> None:
    regions = load("k612-2node-memblock-debug").of(ev.MemblockRegion)
    first_memory = [r for r in regions if r.table == "memory"][:3]
    assert [(r.index, r.start, r.end, r.node, r.flags) for r in first_memory] == [
        (0, 0x1000, 0x9f000, None, 0), (1, 0x100000, 0xbffe0000, None, 0), (2, 0x100000000, 0x140000000, None, 0)]


def test_reservations_accessor() -> None:
    log = load("k612-3node-crashkernel-memmap-kernelcore")
    kinds = [e.kind for e in log.reservations]
    assert kinds.count("acpi_reserved") == 7 and kinds.count("node_data") == 3
    assert kinds.count("ramdisk") == 1 and kinds.count("crashkernel") == 1
    srat = next(e for e in log.reservations if isinstance(e, ev.AcpiTableReserved) and e.signature == "SRAT")
    assert (srat.start, srat.end) == (0xbffe2140, 0xbffe2290)


# --- the log's SRAT lines against the binary table ------------------------------------------

def srat_lines_match_table(log: BootLog, table: bytes) -> None:
    """Every enabled memory affinity of the table appears as one 'ACPI: SRAT: Node' line, in order."""
    srat = parse_srat(table)
    expected = [(m.proximity_domain, m.base, m.end, m.hotpluggable, m.non_volatile)
                for m in srat.memory if m.enabled and m.length]
    seen = [(e.pxm, e.start, e.end, e.hotplug, e.non_volatile) for e in log.srat_ranges]
    assert seen == expected


@pytest.mark.parametrize("path", [p for p in LOGS if p.with_suffix(".srat").exists() and "numa-off" not in p.name],
                         ids=lambda p: p.stem)
def test_srat_lines_agree_with_the_guest_table(path: Path) -> None:
    srat_lines_match_table(parse_boot_log(path.read_text()), path.with_suffix(".srat").read_bytes())


def test_srat_lines_disagree_with_another_table() -> None:
    log = load("k612-3node-plain")
    with pytest.raises(AssertionError):
        srat_lines_match_table(log, (DATA / "k612-3node-hotplug-srat-movable-node.srat").read_bytes())


def _recordings() -> list[str]:
    return sorted(glob.glob(str(RECORDINGS / "*" / "*.tar.gz")))


def _members(archive: str, *names: str) -> dict[str, bytes]:
    """The named regular files of a recording, read straight from the tar (no unpacking)."""
    out: dict[str, bytes] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for info in tar:
            name = info.name.removeprefix("./")
            if name in names and info.isfile():
                out[name] = tar.extractfile(info).read()  # type: ignore[union-attr]
    return out


@pytest.mark.parametrize("archive", _recordings(), ids=lambda p: "/".join(p.split("/")[-2:]))
def test_every_recording_parses_and_agrees_with_its_srat(archive: str) -> None:
    files = _members(archive, DMESG_PATH, SRAT_PATH, "lab/kernel-release")
    log = parse_boot_log(files[DMESG_PATH].decode())
    assert log.complete, log.incomplete_reason
    if "lab/kernel-release" in files:
        assert log.release == files["lab/kernel-release"].decode().strip()
    numa_off = any(n.what == "off" for n in log.of(ev.NumaNote))
    if SRAT_PATH in files and not numa_off and log.srat_ranges:
        srat_lines_match_table(log, files[SRAT_PATH])


def test_recording_read_through_root() -> None:
    archive = next(iter(_recordings()), None)
    assert archive is not None, "recordings/ holds no capture yet"
    with open_root(archive) as root:
        reading = read_boot_log(root)
        assert reading.ok and reading.source == DMESG_PATH and reading.value.complete
        assert read_srat(root).ok


# --- formats and completeness ------------------------------------------------------------

def test_kmsg_format_and_bare_lines_give_the_same_events() -> None:
    text = (DATA / "k61-3node-plain.dmesg").read_text()
    dmesg = parse_boot_log(text)
    kmsg_lines, bare_lines = [], []
    for seq, line in enumerate(text.splitlines()):
        stamp, msg = line[1:13].strip(), line[15:]
        sec, usec = stamp.split(".")
        kmsg_lines.append(f"6,{seq},{int(sec) * 1_000_000 + int(usec)},-;{msg}\n SUBSYSTEM=acpi\n DEVICE=+acpi:X")
        bare_lines.append(msg)
    kmsg = parse_boot_log("\n".join(kmsg_lines))
    bare = parse_boot_log("\n".join(bare_lines))
    strip = lambda log: [{k: v for k, v in vars(e).items() if k not in ("line", "usec")} for e in log.events]  # noqa: E731
    assert strip(kmsg) == strip(dmesg) == strip(bare)
    assert [e.usec for e in kmsg.events] == [e.usec for e in dmesg.events]
    assert all(e.usec is None for e in bare.events) and bare.complete


def test_kmsg_record_to_dmesg() -> None:
    rec = b"6,712,2850882,-;Freeing initrd memory: 1008K\n SUBSYSTEM=x\n"
    assert kmsg_record_to_dmesg(rec) == "[    2.850882] Freeing initrd memory: 1008K\n"
    assert kmsg_record_to_dmesg(b"4,0,0,-,caller=T0;Linux version 6.1\n") == "[    0.000000] Linux version 6.1\n"
    escaped = b"6,91,132882,-;rcu: \\x09RCU \\x5cx41 \\xc3\\xa9\n"
    assert kmsg_record_to_dmesg(escaped) == "[    0.132882] rcu: \tRCU \\x41 \u00e9\n"


def test_rotated_log_is_incomplete() -> None:
    lines = (DATA / "k612-3node-crashkernel-memmap-kernelcore.dmesg").read_text().splitlines()
    rotated = parse_boot_log("\n".join(lines[60:]))
    assert not rotated.complete and "0.0" in rotated.incomplete_reason and "rotated" in rotated.incomplete_reason
    # Zone lines survive and still parse; the firmware map and the early command line are gone.
    assert rotated.e820_map == [] and rotated.movable_zone_start == {1: 0x100000000, 2: 0x140000000}
    assert rotated.command_line == lines[121].split("Kernel command line: ")[1]
    bare = "\n".join(line[15:] for line in lines[3:])
    cut = parse_boot_log(bare)
    assert not cut.complete and "Linux version" in cut.incomplete_reason
    assert not parse_boot_log("").complete


def test_unknown_lines_are_ignored_and_a_cut_last_line_dropped() -> None:
    log = parse_boot_log("Linux version 6.1.0-x (y)\nCommand line: a\nBIOS-e820: [mem 0x0-0xfff] usable\n"
                         "NUMA: something new\n  DMA [mem 0x0-0xfff]\nmemblock_reserve: garbage\nwhatever\n"
                         "ACPI: SRAT: Node 0 PXM 0 [mem 0x0-")
    assert [e.kind for e in log.events] == ["release", "cmdline", "e820"] and log.complete


@pytest.mark.parametrize("line", ["ACPI: SRAT: Node 0 PXM 0 [mem 0x0-", "BIOS-e820: [mem 0x0-0xfff] fancy RAM",
                                  "NODE_DATA(0) allocated somewhere", "Initmem setup node 1 [mem 0x1000-]",
                                  "e820: update [mem 0x0-0xfff] usable ==> shiny"])
def test_a_known_kind_that_does_not_parse_names_its_line(line: str) -> None:
    with pytest.raises(ParseError, match=r"^line 3: (a line of a known kind|unknown e820 type)"):
        parse_boot_log(f"Linux version 6.1.0-x (y)\nCommand line: a\n{line}\nwhatever\n")


def test_a_block_item_that_does_not_parse_names_its_line() -> None:
    with pytest.raises(ParseError, match="line 3: a 'early' line"):
        parse_boot_log("Linux version 6.1\nEarly memory node ranges\n  node 0: [mem 0x1000 to 0x2000]\nx\n")


def test_impossible_range_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="line 2"):
        parse_boot_log("Linux version 6.1\nRAMDISK: [mem 0x2000-0x0fff]\n")
    with pytest.raises(ParseError):
        parse_boot_log("Linux version\0")


# --- reading ---------------------------------------------------------------------------

def test_snapshot_reads_var_log_dmesg(tmp_path: Path) -> None:
    (tmp_path / "var" / "log").mkdir(parents=True)
    (tmp_path / "var/log/dmesg").write_text((DATA / "k61-3node-plain.dmesg").read_text())
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/kmsg").write_text("6,0,5000000,-;not the boot log\n")  # a snapshot never reads kmsg
    reading = read_boot_log(Root(tmp_path))
    assert reading.ok and reading.source == "var/log/dmesg" and reading.value.release == K61


def test_snapshot_without_log_is_absent(tmp_path: Path) -> None:
    reading = read_boot_log(Root(tmp_path))
    assert reading.status is Status.ABSENT and reading.source == "var/log/dmesg"


def test_garbage_log_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "var" / "log").mkdir(parents=True)
    (tmp_path / "var/log/dmesg").write_bytes(b"Linux version 6.1\n\0\0\0")
    reading = read_boot_log(Root(tmp_path))
    assert reading.status is Status.MALFORMED and "NUL" in reading.problem


@pytest.mark.skipif(os.geteuid() != 0, reason="reading /dev/kmsg needs CAP_SYSLOG")
def test_live_kmsg_matches_dmesg() -> None:
    reading = read_boot_log_text(Root("/"))
    assert reading.ok and reading.source == "dev/kmsg"
    ours = reading.value.splitlines()
    theirs = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(ours) >= 100 and ours[:100] == theirs[:100]
    assert parse_boot_log(reading.value).release == os.uname().release


def test_live_falls_back_to_var_log_dmesg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootlog, "KMSG_PATH", "dev/no-such-kmsg")
    reading = read_boot_log_text(Root("/"))
    assert reading.source == "var/log/dmesg"
    assert reading.ok == os.path.exists("/var/log/dmesg")


# --- fuzz ---------------------------------------------------------------------------------

_SEED = (DATA / "k61-3node-hotplug-srat-movable-node.dmesg").read_text().splitlines()


def _parse_or_parse_error(text: str) -> None:
    try:
        result = parse_boot_log(text)
    except ParseError:
        return
    assert isinstance(result, BootLog)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fuzz_random_text(text: str) -> None:
    _parse_or_parse_error(text)


_PREFIXES = sorted({line[15:15 + k] for line in _SEED for k in (6, 14, 24) if len(line) > 15})
_HEXISH = st.text(alphabet="0123456789abcdefx-[] :,=>()KMBnodePXMmem\t", max_size=60)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PREFIXES), _HEXISH, st.sampled_from(["", "[    0.000000] ", "6,1,0,-;"])),
                max_size=20))
def test_fuzz_known_prefixes_with_random_tails(parts: list) -> None:
    _parse_or_parse_error("\n".join(stamp + prefix + tail for prefix, tail, stamp in parts))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 200), st.text(max_size=8)),
                max_size=12),
       st.integers(0, len(_SEED)))
def test_fuzz_mutated_real_log(edits: list, cut: int) -> None:
    lines = list(_SEED[cut // 2: cut // 2 + 60])
    for index, pos, insert in edits:
        if lines:
            line = lines[index % len(lines)]
            lines[index % len(lines)] = line[:pos] + insert + line[pos + len(insert):]
    _parse_or_parse_error("\n".join(lines))


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_early_allocations_one_node(series: str) -> None:
    """One node (no SRAT): the dentry and inode hash tables come from memblock ("linear")."""
    with open_root(str(RECORDINGS / series / "no_srat_movablecore.tar.gz")) as root:
        log = read_boot_log(root).value
    assert [(e.what, e.size, e.memblock) for e in log.of(ev.EarlyAllocation)] == [
        ("log buffer", 4 << 20, True), ("Dentry cache hash table", 8 << 20, True),
        ("Inode-cache hash table", 4 << 20, True)]


def test_early_hash_tables_on_numa_are_vmalloced() -> None:
    """Three nodes (hashdist): the same tables are allocated later with vmalloc, not memblock."""
    with open_root(str(RECORDINGS / "6.12" / "hotadd_online.tar.gz")) as root:
        log = read_boot_log(root).value
    assert [(e.what, e.memblock) for e in log.of(ev.EarlyAllocation)] == [
        ("log buffer", True), ("Dentry cache hash table", False), ("Inode-cache hash table", False)]
