"""``/sys/devices/system/memory``: the memory blocks and their state, zones and node.

drivers/base/memory.c: ``block_size_bytes`` is hex bytes without ``0x``; per block
``memoryN/phys_index`` is the first memory section in hex (``%08x``); ``state`` is
online/offline/going-offline; ``online`` 0/1; ``valid_zones`` the zone of an online
block, or for an offline one the zones it could be onlined to (the first is the default;
``none`` when it cannot be onlined); ``removable`` 0/1 (legacy); ``phys_device`` an int;
the ``nodeN`` link names the block's node. Files absent on a kernel give None.

Scale: a 16 TiB machine has 131072 blocks, so :func:`read_memory_blocks` reads only the
listed files and :class:`MemoryBlock` uses slots.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from probes.reading import ParseError, Reading, Status
from probes.root import Root
from probes.sysfs import parse_int

MEMORY_DIR = "sys/devices/system/memory"
BLOCK_FILES = ("phys_index", "state", "online", "valid_zones", "removable", "phys_device")
STATES = ("online", "offline", "going-offline")


@dataclass(frozen=True, slots=True)
class MemoryBlock:
    """Block ``number`` (``memoryN``); ``phys_index`` is its first section number."""

    number: int
    phys_index: int | None
    state: str | None
    online: bool | None
    valid_zones: tuple[str, ...] | None
    removable: bool | None
    node: int | None
    phys_device: int | None


@dataclass(frozen=True)
class MemoryBlocks:
    """``block_size`` in bytes and the blocks sorted by number."""

    block_size: int
    blocks: tuple[MemoryBlock, ...]

    def start(self, block: MemoryBlock) -> int:
        """First byte of ``block`` (``number * block_size``, as lsmem computes it)."""
        return block.number * self.block_size


@dataclass(frozen=True)
class BlockRange:
    """Adjacent blocks ``first..last`` sharing every grouped attribute, as lsmem prints a row."""

    first: int
    last: int
    start: int
    end: int
    state: str | None
    removable: bool | None
    node: int | None
    valid_zones: tuple[str, ...] | None

    @property
    def size(self) -> int:
        """Bytes covered (``end`` is inclusive)."""
        return self.end - self.start + 1


def parse_block_size(text: str) -> int:
    """``block_size_bytes``: hex without ``0x``."""
    size = parse_int(text, 16, "block_size_bytes")
    if size == 0 or size & (size - 1):
        raise ParseError(f"block_size_bytes {size:#x} is not a power of two")
    return size


def parse_block(name: str, files: Mapping[str, str], links: Iterable[str] = ()) -> MemoryBlock:
    """One ``memoryN`` from its file texts (``BLOCK_FILES``, any may be missing) and link names."""
    if not name.startswith("memory"):
        raise ParseError(f"{name[:40]!r} is not a memoryN block")
    number = parse_int(name[len("memory"):], 10, name)
    state = files.get("state")
    if state is not None:
        state = state.strip()
        if state not in STATES:
            raise ParseError(f"{name}/state: unknown state {state[:40]!r}")
    zones = files.get("valid_zones")
    valid_zones = tuple(zones.split()) if zones is not None else None
    if valid_zones == ():
        raise ParseError(f"{name}/valid_zones is empty")
    nodes = [parse_int(link[4:], 10, f"{name}/{link}") for link in links if link.startswith("node")]
    if len(nodes) > 1:
        raise ParseError(f"{name} has {len(nodes)} node links")

    def opt(key: str, base: int) -> int | None:
        return parse_int(files[key], base, f"{name}/{key}") if key in files else None

    def flag(key: str) -> bool | None:
        v = opt(key, 10)
        if v not in (None, 0, 1):
            raise ParseError(f"{name}/{key}: {v} is not 0 or 1")
        return None if v is None else bool(v)

    return MemoryBlock(number, opt("phys_index", 16), state, flag("online"), valid_zones, flag("removable"),
                       nodes[0] if nodes else None, opt("phys_device", 10))


def group_blocks(blocks: MemoryBlocks) -> tuple[BlockRange, ...]:
    """Merge runs of consecutive blocks with equal state, removable, node and zones.

    As util-linux sys-utils/lsmem.c ``is_mergeable`` does when the node and zone
    columns are shown (lsmem splits on the attributes of its columns).
    """
    out: list[BlockRange] = []
    size = blocks.block_size
    for b in blocks.blocks:
        key = (b.state, b.removable, b.node, b.valid_zones)
        prev = out[-1] if out else None
        if prev and prev.last + 1 == b.number and (prev.state, prev.removable, prev.node, prev.valid_zones) == key:
            out[-1] = BlockRange(prev.first, b.number, prev.start, (b.number + 1) * size - 1, *key)
        else:
            out.append(BlockRange(b.number, b.number, b.number * size, (b.number + 1) * size - 1, *key))
    return tuple(out)


def read_memory_blocks(root: Root) -> Reading[MemoryBlocks]:
    """Every block under ``sys/devices/system/memory`` (ABSENT without memory-block support)."""
    size = root.read_text(f"{MEMORY_DIR}/block_size_bytes").map(parse_block_size)
    if not size.ok:
        return Reading(size.source, size.status, None, size.problem)
    listing = root.listdir(MEMORY_DIR)
    if not listing.ok:
        return Reading(listing.source, listing.status, None, listing.problem)
    blocks = []
    for name in listing.value or []:
        if not (name.startswith("memory") and name[6:].isdigit()):
            continue
        entries = root.listdir(f"{MEMORY_DIR}/{name}")
        if not entries.ok:
            return Reading(entries.source, entries.status, None, entries.problem)
        present = set(entries.value or [])
        files = {}
        for f in BLOCK_FILES:
            if f in present:
                r = root.read_text(f"{MEMORY_DIR}/{name}/{f}")
                if not r.ok:
                    return Reading(r.source, r.status, None, r.problem)
                files[f] = r.value or ""
        try:
            blocks.append(parse_block(name, files, (e for e in present if e.startswith("node"))))
        except ParseError as exc:
            return Reading(f"{MEMORY_DIR}/{name}", Status.MALFORMED, None, f"malformed: {exc}")
    blocks.sort(key=lambda b: b.number)
    return Reading(MEMORY_DIR, Status.OK, MemoryBlocks(size.value or 0, tuple(blocks)))
