"""``/sys/devices/system/memory``: the memory blocks and their state, zones and node.

drivers/base/memory.c: ``block_size_bytes`` is hex bytes without ``0x``; per block
``memoryN/phys_index`` is the first memory section in hex (``%08x``); ``state`` is
online/offline/going-offline; ``online`` 0/1; ``valid_zones`` the zone of an online
block, or for an offline one the zones it could be onlined to (the first is the default;
``none`` when it cannot be onlined); ``removable`` 0/1 (legacy); ``phys_device`` an int;
the ``nodeN`` link names the block's node. Files absent on a kernel give None.

``online`` is parsed but no command reads it where ``state`` is there (every kernel has
``state``): its read takes the block's device lock (drivers/base/core.c online_show), which an
offline in progress holds for as long as it retries (mm/memory_hotplug.c offline_pages loops
until its pages migrate or a signal comes), so a read there waits, unkillable, as long.

Scale: a 16 TiB machine has 131072 blocks, so :func:`read_memory_blocks` reads only the
files asked for, one directory fd per block, and keeps the blocks as columns
(:class:`BlockTable`), making a :class:`MemoryBlock` only when one is looked at.
"""
from __future__ import annotations

import heapq
import sys
from bisect import bisect_left
from array import array
from typing import Callable, Collection, Iterable, Iterator, Mapping, NamedTuple, Sequence, overload

from probes.records import frozen
from probes.reading import ParseError, Reading, Status
from probes.root import DirReader, Root
from probes.sysfs import parse_int

MEMORY_DIR = "sys/devices/system/memory"
#: Every block file the parser knows, in :class:`MemoryBlock` order.
BLOCK_FILES = ("phys_index", "state", "online", "valid_zones", "removable", "phys_device")
#: What is read unless asked otherwise: all but ``online`` (its read can wait on an offline).
LOCK_FREE_FILES = tuple(f for f in BLOCK_FILES if f != "online")
STATES = ("online", "offline", "going-offline")
_STATES = {s: s for s in STATES}
_STATE_CODES = (None, *STATES)
#: A flag column's code (0, 1, 2 for None) -> its value.
_FLAG = (False, True, None)
#: valid_zones texts seen -> their interned token tuple (a machine has a handful).
_ZONES: dict[str, tuple[str, ...]] = {}


class MemoryBlock(NamedTuple):
    """Block ``number`` (``memoryN``); ``phys_index`` is its first section number. A named tuple:
    a big machine makes one per block each time its table is walked."""

    number: int
    phys_index: int | None
    state: str | None
    online: bool | None
    valid_zones: tuple[str, ...] | None
    removable: bool | None
    node: int | None
    phys_device: int | None


@frozen
class MemoryBlocks:
    """``block_size`` in bytes and the blocks sorted by number (a :class:`BlockTable` when read)."""

    block_size: int
    blocks: Sequence[MemoryBlock]

    def start(self, block: MemoryBlock) -> int:
        """First byte of ``block`` (``number * block_size``, as lsmem computes it)."""
        return block.number * self.block_size

    def find(self, number: int) -> MemoryBlock | None:
        """Block ``memory<number>``, found by bisection (the blocks are sorted by number)."""
        i = bisect_left(self.blocks, number, key=lambda b: b.number)
        return self.blocks[i] if i < len(self.blocks) and self.blocks[i].number == number else None


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
        return _decode(self._zone_table, self._number[i], self._phys_index[i], self._state[i], self._flags[i],
                       self._zones[i], self._node[i], self._phys_device[i])

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
        zones = self._zone_table
        for row in zip(self._number, self._phys_index, self._state, self._flags, self._zones, self._node,
                       self._phys_device):
            yield _decode(zones, *row)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def _decode(zone_table: list[tuple[str, ...]], number: int, pi: int, state: int, flags: int, z: int, node: int,
            dev: int) -> MemoryBlock:
    """One :class:`BlockTable` row (its column codes) as a :class:`MemoryBlock`."""
    return MemoryBlock(number, None if pi < 0 else pi, _STATE_CODES[state], _FLAG[flags & 3],
                       None if z < 0 else zone_table[z], _FLAG[flags >> 2], None if node < 0 else node,
                       None if dev < 0 else dev)


@frozen
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


def _state(text: str, name: str) -> str:
    state = _STATES.get(text.strip())
    if state is None:
        raise ParseError(f"{name}/state: unknown state {text.strip()[:40]!r}")
    return state


def _flag(text: str, name: str, key: str) -> bool:
    v = parse_int(text, 10, f"{name}/{key}")
    if v > 1:
        raise ParseError(f"{name}/{key}: {v} is not 0 or 1")
    return bool(v)


def _zones(text: str, name: str) -> tuple[str, ...]:
    zones = _ZONES.get(text)
    if zones is None:
        zones = tuple(sys.intern(z) for z in text.split())
        if not zones:
            raise ParseError(f"{name}/valid_zones is empty")
        if len(_ZONES) < 256:
            _ZONES[text] = zones
    return zones


#: Per block file: its field's index in :class:`MemoryBlock` and its parser (text, block name).
_FIELDS: dict[str, tuple[int, Callable[[str, str], object]]] = {
    "phys_index": (1, lambda t, n: parse_int(t, 16, f"{n}/phys_index")),
    "state": (2, _state),
    "online": (3, lambda t, n: _flag(t, n, "online")),
    "valid_zones": (4, _zones),
    "removable": (5, lambda t, n: _flag(t, n, "removable")),
    "phys_device": (7, lambda t, n: parse_int(t, 10, f"{n}/phys_device")),
}
#: Files whose few distinct texts are parsed once per read (phys_index differs in every block).
_REPEATING = frozenset({"state", "online", "valid_zones", "removable", "phys_device"})


def _node(name: str, links: Iterable[str]) -> int | None:
    """The node of the block's ``nodeN`` link, None without one. A boot block across a node
    boundary is linked to each node; its node is the last one registered, the highest
    (drivers/base/memory.c memory_block_add_nid: "we only indicate the last processed node"),
    as lsmem shows it."""
    nodes = [parse_int(link[4:], 10, f"{name}/{link}") for link in links if link.startswith("node")]
    return max(nodes) if nodes else None


def _block_fields(name: str, files: Mapping[str, str], links: Iterable[str]) -> list:  # type: ignore[type-arg]
    """The fields of :class:`MemoryBlock`, in order; strings and zone tuples interned."""
    if not name.startswith("memory"):
        raise ParseError(f"{name[:40]!r} is not a memoryN block")
    fields: list[object] = [parse_int(name[6:], 10, name), None, None, None, None, None, _node(name, links), None]
    for key, (index, parse) in _FIELDS.items():
        text = files.get(key)
        if text is not None:
            fields[index] = parse(text, name)
    return fields


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


def read_memory_blocks(root: Root, files: Collection[str] = LOCK_FREE_FILES) -> Reading[MemoryBlocks]:
    """Every block under ``sys/devices/system/memory`` (ABSENT without memory-block support).

    Only ``files`` (a subset of ``BLOCK_FILES``) are read; the fields of the others are None.
    Blocks are read in block-number order through one directory fd (:class:`DirReader`):
    per block, each file is opened relative to it and read once, and the listing of the block
    directory is skipped when the previous block's ``nodeN`` link is there too (the kernel
    makes one node link per block, except for a boot block across nodes, whose valid_zones
    is ``none``: such a block's directory is always listed). A block that is a
    link, or any error, is read again through :meth:`Root.scan`, which checks and reports it.
    """
    size = root.read_text(f"{MEMORY_DIR}/block_size_bytes").map(parse_block_size)
    if not size.ok:
        return Reading(size.source, size.status, None, size.problem)
    opened = root.open_dir(MEMORY_DIR)
    if not opened.ok or opened.value is None:
        return Reading(opened.source, opened.status, None, opened.problem)
    wanted = [f for f in BLOCK_FILES if f in files]
    table = BlockTable()
    with opened.value as d:
        try:
            plain, other = _block_dirs(d)
        except OSError as exc:
            return Reading(MEMORY_DIR, Status.MALFORMED, None, exc.strerror or str(exc))
        blocks = heapq.merge(((n, f"memory{n}", True) for n in plain), other)
        parsed: dict[tuple[str, bytes], object] = {}  # (file, raw text) -> value, for _REPEATING files
        hint = None  # the previous block's node: a block's neighbours are almost always on its node
        for number, name, real in blocks:
            try:
                fields = _fast_fields(d, number, name, wanted, hint, parsed) if real else None
                if fields is None:
                    r = root.scan(f"{MEMORY_DIR}/{name}", wanted, None if hint is None else f"node{hint}")
                    if not r.ok:
                        return Reading(r.source, r.status, None, r.problem)
                    entries_, texts = r.value  # type: ignore[misc]
                    fields = _block_fields(name, texts, entries_)
            except ParseError as exc:
                return Reading(f"{MEMORY_DIR}/{name}", Status.MALFORMED, None, f"malformed: {exc}")
            table.append(*fields)
            hint = fields[6]
    return Reading(MEMORY_DIR, Status.OK, MemoryBlocks(size.value or 0, table))


def _block_dirs(d: DirReader) -> tuple[array, list[tuple[int, str, bool]]]:
    """The block numbers of the real directories named ``memoryN`` (sorted, compact: 131072 of
    them), and every other ``memory<digits>`` entry (a link, a leading zero) as (number, name,
    False), sorted, for :meth:`Root.scan` to check."""
    plain, other = array("q"), []
    for name, real in d.entries():
        if name.startswith("memory") and name[6:].isdigit():
            number = int(name[6:])
            if real and name == f"memory{number}":
                plain.append(number)
            else:
                other.append((number, name, False))
    return array("q", sorted(plain)), sorted(other)


def _fast_fields(d: DirReader, number: int, name: str, wanted: list[str], hint: int | None,
                 parsed: dict[tuple[str, bytes], object]) -> list | None:  # type: ignore[type-arg]
    """One real block directory read through ``d`` (its fields in :class:`MemoryBlock` order), or
    None on any OSError or undecodable text, for :meth:`Root.scan` to read and report. ``hint``:
    the previous block's node, taken when this block has the same ``nodeN`` link."""
    fields: list[object] = [number, None, None, None, None, None, None, None]
    try:
        for key in wanted:
            raw = d.read(f"{name}/{key}")
            if raw is None:
                continue
            index, parse = _FIELDS[key]
            if key in _REPEATING:
                value = parsed.get((key, raw), parsed)
                if value is parsed:
                    value = parse(raw.decode("utf-8"), name)
                    if len(parsed) < 1024:
                        parsed[(key, raw)] = value
            else:
                value = parse(raw.decode("utf-8"), name)
            fields[index] = value
        # valid_zones "none": a block across zones or nodes, whose links are all listed
        if hint is not None and fields[4] != ("none",) and d.is_link(f"{name}/node{hint}"):
            fields[6] = hint
            return fields
        links = d.listdir(name)
    except (OSError, UnicodeDecodeError):
        return None
    fields[6] = _node(name, links)
    return fields
