"""``/sys/devices/system/memory``: the memory blocks and their state, zones and node.

drivers/base/memory.c: ``block_size_bytes`` is hex bytes without ``0x``; per block
``memoryN/phys_index`` is the first memory section in hex (``%08x``); ``state`` is
online/offline/going-offline; ``online`` 0/1; ``valid_zones`` the zone of an online
block, or for an offline one the zones it could be onlined to (the first is the default;
``none`` when it cannot be onlined); ``removable`` 0/1 (legacy); ``phys_device`` an int;
the ``nodeN`` link names the block's node. Files absent on a kernel give None.

Scale: a 16 TiB machine has 131072 blocks, so :func:`read_memory_blocks` reads only the
files asked for, one directory fd per block, and keeps the blocks as columns
(:class:`BlockTable`), making a :class:`MemoryBlock` only when one is looked at.
"""
from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from typing import Collection, Iterable, Iterator, Mapping, Sequence, overload

from probes.reading import ParseError, Reading, Status
from probes.root import Root
from probes.sysfs import parse_int

MEMORY_DIR = "sys/devices/system/memory"
BLOCK_FILES = ("phys_index", "state", "online", "valid_zones", "removable", "phys_device")
STATES = ("online", "offline", "going-offline")
_STATES = {s: s for s in STATES}
_STATE_CODES = (None, *STATES)
#: valid_zones texts seen -> their interned token tuple (a machine has a handful).
_ZONES: dict[str, tuple[str, ...]] = {}


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
    """``block_size`` in bytes and the blocks sorted by number (a :class:`BlockTable` when read)."""

    block_size: int
    blocks: Sequence[MemoryBlock]

    def start(self, block: MemoryBlock) -> int:
        """First byte of ``block`` (``number * block_size``, as lsmem computes it)."""
        return block.number * self.block_size


class BlockTable(Sequence[MemoryBlock]):
    """Blocks held as columns (about 30 bytes a block, values interned), each
    :class:`MemoryBlock` made when it is looked at: 131072 blocks take 4 MiB, not 40."""

    def __init__(self) -> None:
        self._number = array("q")
        self._phys_index = array("q")    # -1: None
        self._state = bytearray()        # index into _STATE_CODES
        self._flags = bytearray()        # online | removable << 2, each 0, 1 or 2 (None)
        self._zones = array("i")         # index into _zone_table, -1: None
        self._node = array("i")          # -1: None
        self._phys_device = array("q")   # -1: None
        self._zone_table: list[tuple[str, ...]] = []
        self._zone_index: dict[tuple[str, ...], int] = {}

    def append(self, number: int, phys_index: int | None, state: str | None, online: bool | None,
               valid_zones: tuple[str, ...] | None, removable: bool | None, node: int | None,
               phys_device: int | None) -> None:
        """Add one block (the fields of :class:`MemoryBlock`, in order)."""
        self._number.append(number)
        self._phys_index.append(-1 if phys_index is None else phys_index)
        self._state.append(_STATE_CODES.index(state))
        self._flags.append((2 if online is None else online) | (2 if removable is None else removable) << 2)
        if valid_zones is None:
            self._zones.append(-1)
        else:
            i = self._zone_index.get(valid_zones)
            if i is None:
                i = self._zone_index[valid_zones] = len(self._zone_table)
                self._zone_table.append(valid_zones)
            self._zones.append(i)
        self._node.append(-1 if node is None else node)
        self._phys_device.append(-1 if phys_device is None else phys_device)

    def __len__(self) -> int:
        return len(self._number)

    def _block(self, i: int) -> MemoryBlock:
        pi, z, node, dev, flags = self._phys_index[i], self._zones[i], self._node[i], self._phys_device[i], \
            self._flags[i]
        online, removable = flags & 3, flags >> 2
        return MemoryBlock(self._number[i], None if pi < 0 else pi, _STATE_CODES[self._state[i]],
                           None if online == 2 else bool(online), None if z < 0 else self._zone_table[z],
                           None if removable == 2 else bool(removable), None if node < 0 else node,
                           None if dev < 0 else dev)

    @overload
    def __getitem__(self, i: int) -> MemoryBlock: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[MemoryBlock, ...]: ...

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return tuple(self._block(j) for j in range(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("block index out of range")
        return self._block(i)

    def __iter__(self) -> Iterator[MemoryBlock]:
        return map(self._block, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


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
    return MemoryBlock(*_block_fields(name, files, links))


def _flag(files: Mapping[str, str], key: str, name: str) -> bool | None:
    text = files.get(key)
    if text is None:
        return None
    v = parse_int(text, 10, f"{name}/{key}")
    if v > 1:
        raise ParseError(f"{name}/{key}: {v} is not 0 or 1")
    return bool(v)


def _block_fields(name: str, files: Mapping[str, str], links: Iterable[str]) -> tuple:  # type: ignore[type-arg]
    """The fields of :class:`MemoryBlock`, in order; strings and zone tuples interned."""
    if not name.startswith("memory"):
        raise ParseError(f"{name[:40]!r} is not a memoryN block")
    number = parse_int(name[6:], 10, name)
    state = files.get("state")
    if state is not None:
        state = _STATES.get(state.strip())
        if state is None:
            raise ParseError(f"{name}/state: unknown state {files['state'].strip()[:40]!r}")
    valid_zones = None
    zones = files.get("valid_zones")
    if zones is not None:
        valid_zones = _ZONES.get(zones)
        if valid_zones is None:
            valid_zones = tuple(sys.intern(z) for z in zones.split())
            if not valid_zones:
                raise ParseError(f"{name}/valid_zones is empty")
            if len(_ZONES) < 256:
                _ZONES[zones] = valid_zones
    nodes = [link for link in links if link.startswith("node")]
    if len(nodes) > 1:
        raise ParseError(f"{name} has {len(nodes)} node links")
    node = parse_int(nodes[0][4:], 10, f"{name}/{nodes[0]}") if nodes else None
    pi, dev = files.get("phys_index"), files.get("phys_device")
    return (number, None if pi is None else parse_int(pi, 16, f"{name}/phys_index"), state,
            _flag(files, "online", name), valid_zones, _flag(files, "removable", name), node,
            None if dev is None else parse_int(dev, 10, f"{name}/phys_device"))


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


def read_memory_blocks(root: Root, files: Collection[str] = BLOCK_FILES) -> Reading[MemoryBlocks]:
    """Every block under ``sys/devices/system/memory`` (ABSENT without memory-block support).

    Only ``files`` (a subset of ``BLOCK_FILES``) are read; the fields of the others are None.
    Each block directory is read in one :meth:`Root.scan`, in block-number order; its listing
    is skipped when the previous block's ``nodeN`` link is there too (the kernel makes one node
    link per block, so a second one is then not looked for).
    """
    size = root.read_text(f"{MEMORY_DIR}/block_size_bytes").map(parse_block_size)
    if not size.ok:
        return Reading(size.source, size.status, None, size.problem)
    listing = root.listdir(MEMORY_DIR)
    if not listing.ok:
        return Reading(listing.source, listing.status, None, listing.problem)
    names = [n for n in listing.value or [] if n.startswith("memory") and n[6:].isdigit()]
    names.sort(key=lambda n: int(n[6:]))
    wanted = [f for f in BLOCK_FILES if f in files]
    table = BlockTable()
    hint = None  # the previous block's node link: a block's neighbours are almost always on its node
    for name in names:
        r = root.scan(f"{MEMORY_DIR}/{name}", wanted, hint)
        if not r.ok:
            return Reading(r.source, r.status, None, r.problem)
        entries, texts = r.value  # type: ignore[misc]
        try:
            fields = _block_fields(name, texts, entries)
        except ParseError as exc:
            return Reading(f"{MEMORY_DIR}/{name}", Status.MALFORMED, None, f"malformed: {exc}")
        table.append(*fields)
        hint = None if fields[6] is None else f"node{fields[6]}"
    return Reading(MEMORY_DIR, Status.OK, MemoryBlocks(size.value or 0, table))
