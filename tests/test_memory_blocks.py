import json
import os
import shutil
import subprocess

import pytest

from probes.memory_blocks import (BLOCK_FILES, BlockRange, MemoryBlock, MemoryBlocks, group_blocks, parse_block,
                                  parse_block_size, read_memory_blocks)
from probes.reading import ParseError, Status
from probes.root import Root
from tests.vmdata import vm_root

LSMEM = "/usr/bin/lsmem"
MEM = "sys/devices/system/memory"


def write_blocks(base, block_size, blocks):
    """A sysfs-like tree: blocks = {n: (state, zones, removable, node)}."""
    mem = base / MEM
    mem.mkdir(parents=True)
    (mem / "block_size_bytes").write_text(f"{block_size:x}\n")
    for n, (state, zones, removable, node) in blocks.items():
        d = mem / f"memory{n}"
        d.mkdir()
        sections = block_size // (128 << 20)
        files = {"phys_index": f"{n * sections:08x}", "state": state, "online": str(int(state == "online")),
                 "valid_zones": zones, "removable": str(removable), "phys_device": "0"}
        for name, text in files.items():
            (d / name).write_text(text + "\n")
        (base / f"sys/devices/system/node/node{node}").mkdir(parents=True, exist_ok=True)
        os.symlink(f"../../node/node{node}", d / f"node{node}")
    return base


HOTPLUG = {0: ("online", "none", 1, 0), 1: ("online", "DMA32", 1, 0), 2: ("online", "DMA32", 1, 0),
           8: ("online", "Normal", 1, 0), 9: ("online", "Movable", 1, 1), 10: ("online", "Movable", 1, 1),
           11: ("offline", "Movable Normal", 1, 1), 12: ("offline", "Movable Normal", 1, 1),
           13: ("offline", "Normal Movable", 1, 1), 14: ("going-offline", "Movable", 1, 1),
           15: ("offline", "none", 0, 1)}


def lsmem_rows(root_dir):
    out = subprocess.run([LSMEM, "--sysroot", str(root_dir), "-J", "-o", "RANGE,STATE,REMOVABLE,BLOCK,NODE,ZONES"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["memory"]


def as_lsmem(r: BlockRange) -> dict:
    block = str(r.first) if r.first == r.last else f"{r.first}-{r.last}"
    zones = "/".join("None" if z == "none" else z for z in r.valid_zones)
    # lsmem prints REMOVABLE only for online blocks (an empty cell is false in JSON).
    removable = r.removable if r.state == "online" else False
    return {"range": f"0x{r.start:016x}-0x{r.end:016x}", "state": {"going-offline": "on->off"}.get(r.state, r.state), "removable": removable,
            "block": block, "node": r.node, "zones": zones}


def test_vm_capture_exact():
    with vm_root() as root:
        r = read_memory_blocks(root, BLOCK_FILES)  # ``online`` too, read only when asked for
    mb = r.value
    assert r.ok and mb.block_size == 128 << 20
    assert [b.number for b in mb.blocks] == list(range(0, 24)) + list(range(32, 200))
    assert mb.blocks[0] == MemoryBlock(0, 0, "online", True, ("none",), True, 0, 0)
    assert all(b.phys_index == b.number and b.node == 0 and b.online for b in mb.blocks)
    assert mb.start(mb.blocks[-1]) == 199 << 27
    assert group_blocks(mb) == (
        BlockRange(0, 0, 0, 0x7FFFFFF, "online", True, 0, ("none",)),
        BlockRange(1, 23, 0x8000000, 0xBFFFFFFF, "online", True, 0, ("DMA32",)),
        BlockRange(32, 199, 0x100000000, 0x63FFFFFFF, "online", True, 0, ("Normal",)),
    )


@pytest.mark.skipif(not os.access(LSMEM, os.X_OK), reason="util-linux lsmem not installed")
def test_grouping_agrees_with_lsmem(tmp_path):
    write_blocks(tmp_path, 128 << 20, HOTPLUG)
    r = read_memory_blocks(Root(tmp_path))
    assert r.ok
    mine = [as_lsmem(x) for x in group_blocks(r.value)]
    assert mine == lsmem_rows(tmp_path)
    assert [(x["block"], x["state"], x["zones"]) for x in mine] == [
        ("0", "online", "None"), ("1-2", "online", "DMA32"), ("8", "online", "Normal"),
        ("9-10", "online", "Movable"), ("11-12", "offline", "Movable/Normal"), ("13", "offline", "Normal/Movable"),
        ("14", "on->off", "Movable"), ("15", "offline", "None")]


def test_vm_grouping_agrees_with_lsmem(tmp_path):
    with vm_root() as root:
        shutil.copytree(root.prefix, tmp_path / "vm", symlinks=True)
        mine = [as_lsmem(x) for x in group_blocks(read_memory_blocks(root).value)]
    assert mine == lsmem_rows(tmp_path / "vm")


def test_old_kernel_without_valid_zones(tmp_path):
    write_blocks(tmp_path, 1 << 30, {0: ("online", "x", 1, 0), 1: ("offline", "x", 1, 0)})
    for n in (0, 1):
        (tmp_path / MEM / f"memory{n}/valid_zones").unlink()
        (tmp_path / MEM / f"memory{n}/node0").unlink()
    blocks = read_memory_blocks(Root(tmp_path)).value
    assert blocks.block_size == 1 << 30
    assert [(b.number, b.phys_index, b.valid_zones, b.node) for b in blocks.blocks] == [(0, 0, None, None),
                                                                                       (1, 8, None, None)]


def test_parse_block_from_texts():
    b = parse_block("memory40", {"phys_index": "00000028\n", "state": "offline\n", "online": "0\n",
                                 "valid_zones": "Normal Movable\n", "removable": "1\n", "phys_device": "0\n"},
                    ["node2", "power", "subsystem"])
    assert b == MemoryBlock(40, 0x28, "offline", False, ("Normal", "Movable"), True, 2, 0)
    assert parse_block("memory7", {}) == MemoryBlock(7, None, None, None, None, None, None, None)
    # a boot block across a node boundary (uefi_boot_services_node: memory23) is linked to both
    # nodes; memory_block_add_nid keeps the last registered node, the highest
    assert parse_block("memory23", {"valid_zones": "none\n"}, ["node2", "node1"]).node == 2


@pytest.mark.parametrize("name, files, links, words", [
    ("memoryX", {}, [], "not an integer"),
    ("cpu0", {}, [], "not a memoryN"),
    ("memory1", {"state": "broken\n"}, [], "unknown state"),
    ("memory1", {"online": "2\n"}, [], "not 0 or 1"),
    ("memory1", {"phys_index": "zz\n"}, [], "not an integer"),
    ("memory1", {"valid_zones": "\n"}, [], "empty"),
    ("memory1", {}, ["node0", "nodeX"], "not an integer"),
])
def test_parse_block_garbage(name, files, links, words):
    with pytest.raises(ParseError, match=words):
        parse_block(name, files, links)


@pytest.mark.parametrize("text", ["", "0", "zz", "3000000", "-8000000"])
def test_block_size_garbage(text):
    with pytest.raises(ParseError):
        parse_block_size(text)


def test_reader_statuses(tmp_path):
    assert read_memory_blocks(Root(tmp_path)).status is Status.ABSENT
    write_blocks(tmp_path, 128 << 20, {0: ("online", "none", 1, 0)})
    (tmp_path / MEM / "memory0/state").write_text("weird\n")
    r = read_memory_blocks(Root(tmp_path))
    assert r.status is Status.MALFORMED and r.source == f"{MEM}/memory0" and "unknown state" in r.problem


def test_grouping_splits_on_gaps_and_nodes():
    blocks = MemoryBlocks(1 << 27, tuple(MemoryBlock(n, n, "online", True, ("Normal",), True, node, 0)
                                         for n, node in ((4, 0), (5, 0), (7, 0), (8, 1))))
    assert [(g.first, g.last, g.node, g.size) for g in group_blocks(blocks)] == [
        (4, 5, 0, 2 << 27), (7, 7, 0, 1 << 27), (8, 8, 1, 1 << 27)]
