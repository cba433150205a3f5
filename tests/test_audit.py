"""The audit's verdicts and reasons on hand-built machines with known answers.

The machine mirrors the lab's 3-node QEMU guest: node 0 [0, 2G), node 1 [2G, 3G) +
[4G, 5G), node 2 [5G, 7G) hot-pluggable with a hot-pluggable window [7G, 21G) where a
1 GiB DIMM was hot-added at 7G; movable_node; 128 MiB blocks.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from observer.audit.verdicts import audit, block_list
from observer.audit.inputs import AuditFacts, Block, FirmwareRange, HotplugPolicy, Reservation, ZoneSpan, collect
from observer.audit.reasons import REASONS, Reason, verdict
from observer.cli import main
from probes.root import Root

G = 1 << 30
M = 1 << 20
BS = 128 * M


def _blocks() -> tuple[Block, ...]:
    out = [Block(0, 0, BS, "online", 0, ("none",))]
    out += [Block(n, n * BS, (n + 1) * BS, "online", 0, ("DMA32",)) for n in range(1, 16)]
    out += [Block(n, n * BS, (n + 1) * BS, "online", 1, ("DMA32",)) for n in range(16, 24)]
    out += [Block(n, n * BS, (n + 1) * BS, "online", 1, ("Normal",)) for n in range(32, 40)]
    out += [Block(n, n * BS, (n + 1) * BS, "online", 2, ("Movable",)) for n in range(40, 64)]
    return tuple(out)


def _zones() -> tuple[ZoneSpan, ...]:
    return (ZoneSpan(0, "DMA", 1, 4095, 3998), ZoneSpan(0, "DMA32", 4096, 520192, 520192),
            ZoneSpan(0, "Normal", None, 0, 0), ZoneSpan(0, "Movable", None, 0, 0),
            ZoneSpan(1, "DMA32", 0x80000, 0x40000, 0x3ffe0 - 0x80000 + 0x80000 - 0x20),
            ZoneSpan(1, "Normal", 0x100000, 0x40000, 0x40000), ZoneSpan(1, "Movable", None, 0, 0),
            ZoneSpan(2, "Normal", None, 0, 0), ZoneSpan(2, "Movable", 0x140000, 0xC0000, 0xC0000))


def machine(**changes: object) -> AuditFacts:
    facts = AuditFacts(
        host="lab", release="6.1.0-56-amd64", cmdline="console=ttyS0 movable_node", block_size=BS,
        blocks=_blocks(), zones=_zones(),
        firmware=(FirmwareRange(0, 0, 0, 2 * G, False), FirmwareRange(1, 1, 2 * G, 3 * G, False),
                  FirmwareRange(1, 1, 4 * G, 5 * G, False), FirmwareRange(2, 2, 5 * G, 7 * G, True),
                  FirmwareRange(2, 2, 7 * G, 21 * G, True)),
        boot_ram=((0x1000, 0x9FC00), (M, 0xBFFE0000), (4 * G, 7 * G)),
        hotadded=((7 * G, 8 * G),),
        reservations=(Reservation("kernel-image", 16 * M, 16 * M + 45 * M, "kernel image"),
                      Reservation("initrd", 0xBF000000, 0xBFFE0000, "initrd (RAMDISK)"),
                      Reservation("node-data", 5 * G - 0x30000, 5 * G - 0x2B000, "NODE_DATA(2)", 2)),
        kernel_nodes={0: ("kernel image",), 1: ("initrd (RAMDISK)",)},
        online_nodes=frozenset({0, 1, 2}),
        policy=HotplugPolicy(auto_online="online_movable", online_policy="contig-zones", auto_movable_ratio=301,
                             movable_node=True),
    )
    return replace(facts, **changes)


def _node(a, n):  # type: ignore[no-untyped-def]
    return next(x for x in a.nodes if x.node == n)


def _codes(reasons: list[Reason]) -> list[str]:
    return [r.code for r in reasons]


def test_hot_pluggable_movable_node_is_removable_and_kernel_nodes_are_not() -> None:
    a = audit(machine())
    assert [n.removable for n in a.nodes] == [False, False, True]
    assert _node(a, 2).reasons == [] and _node(a, 2).ready is True
    n0, n1 = _node(a, 0), _node(a, 1)
    assert _codes(n0.reasons)[0] == "kernel-zone" and "kernel image" in n0.reasons[0].detail
    assert {"mixed-zones", "kernel-image", "not-hotpluggable"} <= set(_codes(n0.reasons))
    assert {"kernel-zone", "not-hotpluggable", "node-data"} <= set(_codes(n1.reasons))


def test_every_reason_of_block_0_and_the_legacy_file_is_not_consulted() -> None:
    a = audit(machine())
    b0 = a.blocks[0]
    assert b0.zones == ["DMA", "DMA32"]
    assert _codes(b0.reasons) == ["mixed-zones", "kernel-image", "not-hotpluggable"]
    assert b0.offlinable is False and b0.removable is False
    normal = next(v for v in a.blocks if v.block.number == 32)
    assert _codes(normal.reasons) == ["kernel-zone", "not-hotpluggable"]
    assert "kernelcore= or movablecore=" in normal.reasons[0].detail


def test_node_data_in_a_block_blocks_it_wherever_it_is() -> None:
    a = audit(machine())
    last_normal = next(v for v in a.blocks if v.block.number == 39)
    assert "node-data" in _codes(last_normal.reasons)
    # The same NODE_DATA inside a Movable block (kernelcore=) makes that block unofflinable.
    moved = machine(reservations=(Reservation("node-data", 6 * G, 6 * G + 0x5000, "NODE_DATA(2)", 2),))
    v = next(v for v in audit(moved).blocks if v.block.start == 6 * G)
    assert v.zones == ["Movable"] and v.offlinable is False and _codes(v.reasons) == ["node-data"]
    assert _node(audit(moved), 2).removable is False


def test_dimm_and_hotplug_window_ranges() -> None:
    a = audit(machine())
    kinds = [(r.kind, r.start // G, r.end // G, r.removable) for r in a.ranges]
    assert ("dimm", 7, 8, True) in kinds
    assert ("srat", 5, 7, True) in kinds and ("srat", 0, 2, False) in kinds
    window = next(r for r in a.ranges if r.kind == "srat" and r.start == 7 * G)
    assert window.present == G and window.blocks == list(range(56, 64))
    dimm_blocks = [v for v in a.blocks if v.hotplugged]
    assert [v.block.number for v in dimm_blocks] == list(range(56, 64))


def test_empty_hotplug_window_judged_by_the_online_policy() -> None:
    facts = machine(hotadded=(), blocks=tuple(b for b in _blocks() if b.number < 56),
                    zones=tuple(replace(z, spanned=0x80000, present=0x80000) if z.name == "Movable" and z.node == 2
                                else z for z in _zones()))
    window = next(r for r in audit(facts).ranges if r.start == 7 * G)
    assert window.present == 0 and window.hotadd_zone == "Movable" and window.removable is True
    contig = replace(facts, policy=replace(facts.policy, auto_online="online", movable_node=False))
    window = next(r for r in audit(contig).ranges if r.start == 7 * G)
    # [7G, 21G) touches neither node 2's Movable span [5G, 7G) nor a kernel zone: Normal without movable_node.
    assert window.hotadd_zone == "Normal" and _codes(window.reasons) == ["hotadd-kernel-zone"]
    assert window.removable is False
    offline = replace(facts, policy=replace(facts.policy, auto_online="offline"))
    window = next(r for r in audit(offline).ranges if r.start == 7 * G)
    assert window.hotadd_zone == "offline" and window.removable is True and _codes(window.reasons) == ["hotadd-offline"]


def test_kernel_node_reason_names_what_the_node_holds() -> None:
    # KASLR put the kernel image in node 2: the kernel cleared the node's hotplug marks.
    zones = tuple(ZoneSpan(2, "Normal", 0x140000, 0xC0000, 0xC0000) if (z.node, z.name) == (2, "Normal")
                  else replace(z, start_pfn=None, spanned=0, present=0) if (z.node, z.name) == (2, "Movable")
                  else z for z in _zones())
    blocks = tuple(b._replace(valid_zones=("Normal",)) if b.node == 2 else b for b in _blocks())
    facts = machine(zones=zones, blocks=blocks, hotadded=(), kernel_nodes={0: ("kernel image",),
                                                                         2: ("initrd (RAMDISK)",)})
    a = audit(facts)
    v = next(v for v in a.blocks if v.block.number == 44)
    assert _codes(v.reasons) == ["kernel-zone", "kernel-node"]
    assert "node 2 holds initrd" in v.reasons[0].detail
    n2 = _node(a, 2)
    assert n2.removable is False and "kernel-node" in _codes(n2.reasons)


def test_offline_blocks_stay_removable_and_are_reported() -> None:
    blocks = tuple(b._replace(state="offline", valid_zones=("Movable", "Normal")) if b.number == 44 else b
                   for b in _blocks())
    a = audit(machine(blocks=blocks))
    v = next(v for v in a.blocks if v.block.number == 44)
    assert v.removable is True and _codes(v.reasons) == ["offline"] and v.zones == []
    n2 = _node(a, 2)
    assert n2.removable is True and "partly-offline" in _codes(n2.reasons)


def test_movable_ratio_warning_leaves_removable_but_not_ready() -> None:
    # 12 GiB Movable on node 2 against the 2 GiB of node 0's kernel zones: 600% > 301%.
    zones = tuple(ZoneSpan(2, "Movable", 0x140000, 0x300000, 0x300000) if (z.node, z.name) == (2, "Movable")
                  else replace(z, present=0, spanned=0, start_pfn=None) if z.node == 1 else z for z in _zones())
    a = audit(machine(zones=zones))
    n2 = _node(a, 2)
    assert n2.removable is True and n2.ready is False
    assert _codes(n2.reasons) == ["movable-ratio"] and "(limit 301%)" in n2.reasons[0].detail
    lenient = audit(machine(zones=zones, policy=replace(machine().policy, auto_movable_ratio=700)))
    assert _node(lenient, 2).ready is True


def test_unreadable_inputs_give_cannot_tell_not_a_verdict() -> None:
    a = audit(machine(firmware=None, zones=None, problems=("proc/zoneinfo: permission denied (needs root)",)))
    # Blocks in kernel zones still decide "no"; node 2's Movable blocks cannot prove "yes".
    assert [n.removable for n in a.nodes] == [False, False, None]
    v = next(v for v in a.blocks if v.block.number == 44)
    assert v.offlinable is True and v.removable is None
    assert audit(machine(firmware=())).blocks[44].reasons[-1].code == "no-srat"


def test_cma_area_pins_its_blocks_and_the_movable_node_and_advice_says_move_it() -> None:
    # cma=256M@5G: the area's pageblocks are MIGRATE_CMA, which offline_pages' isolation refuses
    # (mm/page_isolation.c has_unmovable_pages), though the blocks are ZONE_MOVABLE.
    from observer.audit.advice import advise
    facts = machine()
    facts = replace(facts, reservations=facts.reservations + (Reservation("cma", 5 * G, 5 * G + 256 * M, "CMA area"),))
    a = audit(facts)
    held = [v for v in a.blocks if any(r.code == "cma" for r in v.reasons)]
    assert [v.block.number for v in held] == [40, 41]
    assert all(v.zones == ["Movable"] and v.offlinable is False and v.removable is False for v in held)
    assert held[0].reasons[0].detail == "CMA area 0x140000000-0x14fffffff"
    assert a.blocks[42 - 8].block.number == 42 and a.blocks[42 - 8].removable is True
    n2 = _node(a, 2)
    assert n2.offlinable is False and n2.removable is False and _codes(n2.reasons) == ["cma"]
    assert n2.reasons[0].detail.startswith("blocks 40-41: CMA area")
    srat = next(r for r in a.ranges if r.kind == "srat" and r.start == 5 * G)
    assert srat.removable is False and _codes(srat.reasons) == ["cma"]
    # Node 2 is all Movable already: no zone change helps, the advice names the CMA area instead.
    out = advise(facts, a, [], lambda cmdline: facts.zones or ())
    assert [o["targets"] for o in out] == [["node 2"]] and out[0]["cmdline"] is None
    assert "CMA area 0x140000000-0x14fffffff" in out[0]["summary"] and "cma=SIZE@START" in out[0]["summary"]
    assert advise(machine(), audit(machine()), [], lambda cmdline: facts.zones or ()) == []
    # Without movable_node node 2 is Normal: the zone fix is confirmed, and the CMA area still named.
    normal = tuple(replace(z, name="Normal") if z.node == 2 and z.present else z for z in _zones())
    blocks = tuple(b._replace(valid_zones=("Normal",)) if b.node == 2 else b for b in _blocks())
    plain = replace(facts, cmdline="console=ttyS0", zones=normal, blocks=blocks,
                    policy=replace(facts.policy, movable_node=False))
    out = advise(plain, audit(plain), [], lambda cmdline: _zones() if "movable_node" in cmdline else normal)
    assert out[0]["add"] == ["movable_node"] and out[0]["checked"]
    assert "still not removable: node 2 holds a CMA area 0x140000000-0x14fffffff" in out[0]["summary"]


CMA_KERNEL = os.path.join(os.path.dirname(__file__), "data", "cma_kernel")


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_cma_reason_on_a_real_cma_kernel(series: str, capsys) -> None:  # type: ignore[no-untyped-def]
    # tests/data/cma_kernel: hp_node2_movable_node_cma recorded on a Debian linux-source build with
    # CONFIG_CMA=y. The lab's trials on that boot: blocks 40-41 refused offline (EBUSY), 42-55 went.
    path = os.path.join(CMA_KERNEL, series, "hp_node2_movable_node_cma.tar.gz")
    assert main(["audit", "--root", path, "--json", "--no-advice"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kernel"].startswith(series + ".") and doc["kernel"].endswith("-cmalab")
    held = [b["block"] for b in doc["blocks"] if "cma" in {r["code"] for r in b["reasons"]}]
    assert held == [40, 41]
    node2 = next(n for n in doc["nodes"] if n["node"] == 2)
    assert node2["offlinable"] is False and [r["code"] for r in node2["reasons"]] == ["cma"]
    assert all(b["offlinable"] for b in doc["blocks"] if b["node"] == 2 and b["block"] not in held)


def test_reason_codes_are_stable_and_complete() -> None:
    assert verdict([Reason("offline")]) is True and verdict([Reason("input-missing")]) is None
    assert verdict([Reason("input-missing"), Reason("kernel-zone")]) is False
    for code, (severity, sentence) in REASONS.items():
        assert severity in ("blocker", "warning", "unknown") and sentence.endswith(".")
    assert block_list([3]) == "block 3" and block_list([5, 0, 1, 2, 9]) == "blocks 0-2,5,9"


# --- a hand-built snapshot through the CLI ------------------------------------------------

ZONEINFO = """\
Node 0, zone      DMA
  pages free     3000
        spanned  4095
        present  3998
        managed  3977
  start_pfn:         1
Node 0, zone    DMA32
  pages free     3000
        spanned  520192
        present  520192
        managed  500000
  start_pfn:         4096
Node 0, zone   Normal
  pages free     0
        spanned  0
        present  0
        managed  0
Node 0, zone  Movable
  pages free     0
        spanned  0
        present  0
        managed  0
Node 1, zone   Normal
  pages free     0
        spanned  0
        present  0
        managed  0
Node 1, zone  Movable
  pages free     2000
        spanned  262144
        present  262144
        managed  262144
  start_pfn:         1048576
"""

DMESG = """\
[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.140-1 (2025-05-22)
[    0.000000] Command line: console=ttyS0 movable_node
[    0.000000] BIOS-provided physical RAM map:
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x000000007fffffff] usable
[    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff] usable
[    0.000000] ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x7fffffff]
[    0.000000] ACPI: SRAT: Node 1 PXM 1 [mem 0x100000000-0x13fffffff] hotplug
"""


def write_snapshot(root: str, zoneinfo: str = ZONEINFO) -> None:
    """A 2-node snapshot: node 0 [0, 2G) in kernel zones, node 1 [4G, 5G) hot-pluggable and Movable.
    Every block's legacy ``removable`` file reads 1, as on current kernels."""
    def put(rel: str, text: str) -> None:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    put("proc/cmdline", "console=ttyS0 movable_node\n")
    put("proc/sys/kernel/osrelease", "6.1.0-56-amd64\n")
    if zoneinfo:
        put("proc/zoneinfo", zoneinfo)
    put("proc/iomem", "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n"
                      "00100000-7fffffff : System RAM\n  01000000-01ffffff : Kernel code\n"
                      "100000000-13fffffff : System RAM\n")
    put("var/log/dmesg", DMESG)
    put("sys/devices/system/memory/block_size_bytes", "8000000\n")
    put("sys/devices/system/memory/auto_online_blocks", "online_movable\n")
    for n, node, zones in [(i, 0, "DMA32" if i else "none") for i in range(16)] + \
                          [(i, 1, "Movable") for i in range(32, 40)]:
        d = f"sys/devices/system/memory/memory{n}"
        put(f"{d}/state", "online\n")
        put(f"{d}/online", "1\n")
        put(f"{d}/valid_zones", zones + "\n")
        put(f"{d}/removable", "1\n")
        put(f"{d}/phys_index", f"{n:08x}\n")
        os.symlink(f"../../node/node{node}", os.path.join(root, d, f"node{node}"))


def test_collect_reads_a_snapshot_and_ignores_the_removable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_snapshot(str(tmp_path))
    facts = collect(Root(str(tmp_path)), "snap")
    assert facts.block_size == BS and len(facts.blocks or ()) == 24
    assert [(r.node, r.hotpluggable) for r in facts.firmware or ()] == [(0, False), (1, True)]
    assert facts.kernel_nodes == {0: ("kernel image",)}
    a = audit(facts)
    assert [(n.node, n.removable) for n in a.nodes] == [(0, False), (1, True)]
    assert sum(v.removable is True for v in a.blocks) == 8  # every block's removable file says 1


def test_cli_require_exit_codes(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    write_snapshot(str(tmp_path))
    root = ["--root", str(tmp_path)]
    assert main(["audit", *root, "--require", "node1", "--require", "0x100000000-0x13fffffff"]) == 0
    assert main(["audit", *root, "--require", "1", "--require", "0"]) == 1
    assert main(["audit", *root, "--require", "4G+512M"]) == 0
    assert main(["audit", *root, "--require", "0x80000000-0x8fffffff"]) == 1  # no memory there: absent
    capsys.readouterr()
    assert main(["audit", *root, "--require", "node1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["requirements"][0]["removable"] is True
    blk = next(b for b in doc["blocks"] if b["block"] == 32)
    assert blk == {**blk, "range": "0x0000000100000000-0x0000000107ffffff", "size": BS, "state": "online",
                   "node": 1, "zones": ["Movable"], "removable": True, "reasons": []}
    assert [n["removable"] for n in doc["nodes"]] == [False, True]
    assert main(["audit", *root, "--require", "banana"]) == 2


def test_cli_cannot_tell_without_zoneinfo(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    write_snapshot(str(tmp_path), zoneinfo="")
    # Node 1's blocks still say Movable, but the node's present pages are unknown.
    assert main(["audit", "--root", str(tmp_path), "--require", "node1"]) == 3
    out = capsys.readouterr().out
    assert "proc/zoneinfo: absent" in out


@pytest.mark.parametrize("text", ["node1", "0x100000000-0x13fffffff", "4G-5G", "4G+1G"])
def test_require_forms_name_the_same_thing(text: str) -> None:
    from observer.commands.audit import parse_target
    kind, x, y = parse_target(text)
    assert (kind, x, y) in (("node", 1, 0), ("range", 4 * G, 5 * G))


def test_a_block_with_a_memory_hole_is_not_offlinable() -> None:
    # The e820 map reserves [0xbffe0000, 0xc0000000): block 23 [0xb8000000, 0xc0000000) has a hole.
    facts = machine(system_ram=((0x1000, 0x9FC00), (M, 0xBFFE0000), (4 * G, 8 * G)))
    v = next(v for v in audit(facts).blocks if v.block.number == 23)
    assert _codes(v.reasons) == ["kernel-zone", "memory-hole", "not-hotpluggable"]
    assert v.reasons[1].detail == "0xbffe0000-0xbfffffff not RAM"
    assert next(v for v in audit(facts).blocks if v.block.number == 44).offlinable is True


def test_dimm_takes_the_node_of_its_blocks_and_memmap_on_memory_is_flagged() -> None:
    # A DIMM plugged with node=1 into node 2's SRAT window: sysfs links its blocks to node 1.
    blocks = tuple(b._replace(node=1) if b.number >= 56 else b for b in _blocks())
    facts = machine(blocks=blocks, policy=replace(machine().policy, memmap_on_memory=True))
    a = audit(facts)
    dimm = next(r for r in a.ranges if r.kind == "dimm")
    assert dimm.node == 1 and dimm.removable is True
    assert _codes(dimm.reasons) == ["memmap-on-memory"] and dimm.reasons[0].detail.startswith("blocks 56-63")
    assert all(_codes(v.reasons) == [] for v in a.blocks if 40 <= v.block.number < 56)
