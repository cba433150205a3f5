"""The hotplug state movcheck watch starts from, reconciles with and polls as a last resort.

:func:`read_state` reads, through a :class:`~probes.root.Root`, everything the
online rules depend on: memory blocks (state, node, zone of online blocks from
``valid_zones``), zone spans and present pages (``/proc/zoneinfo``), the
default online type (``auto_online_blocks``), the ``memory_hotplug`` module
parameters and ``movable_node`` on the command line. :func:`diff_states`
turns two states into the block events that happened between them; it is the
whole of the sysfs poller and also reconciles after lost events.
"""
from __future__ import annotations

import re

from probes.records import field, frozen, replace
from probes.reading import ParseError, Reading, Status
from probes.root import Root
from probes.sysfs import parse_int

MEMORY = "sys/devices/system/memory"
PARAMS = "sys/module/memory_hotplug/parameters"
KERNEL_ZONES = ("DMA", "DMA32", "Normal")


@frozen
class Block:
    """One memory block: ``state`` online/offline/going-offline, its node, and its zone when online."""

    state: str
    node: int | None
    zone: str | None  # valid_zones of an online block (None when "none" or offline)
    valid_zones: tuple[str, ...] = ()


@frozen
class ZoneSpan:
    """A zone of one node as /proc/zoneinfo shows it (start is None for an unpopulated zone).

    ``present_early`` is ``present`` when the watch started: what the auto-movable
    ratio counts as boot ("early") kernel memory; events change only ``present``.
    """

    start_pfn: int | None
    spanned: int
    present: int
    present_early: int = 0


@frozen
class HotplugState:
    """What sysfs says about memory hot-plug at one moment: settings, blocks and zones."""

    release: str
    block_size: int  # bytes
    auto_online: str  # offline | online | online_kernel | online_movable
    online_policy: str  # contig-zones | auto-movable
    auto_movable_ratio: int
    auto_movable_numa_aware: bool
    movable_node: bool
    blocks: dict[int, Block] = field(default_factory=dict)
    zones: dict[tuple[int, str], ZoneSpan] = field(default_factory=dict)

    @property
    def block_pages(self) -> int:
        return self.block_size // 4096

    def to_json(self) -> dict[str, object]:
        return {
            "release": self.release, "block_size": self.block_size, "auto_online": self.auto_online,
            "online_policy": self.online_policy, "auto_movable_ratio": self.auto_movable_ratio,
            "auto_movable_numa_aware": self.auto_movable_numa_aware, "movable_node": self.movable_node,
            "blocks": {str(n): [b.state, b.node, b.zone, list(b.valid_zones)] for n, b in sorted(self.blocks.items())},
            "zones": [[nid, name, z.start_pfn, z.spanned, z.present, z.present_early] for (nid, name), z in sorted(self.zones.items())],
        }


def state_from_json(obj: object) -> HotplugState:
    """The inverse of :meth:`HotplugState.to_json`; raise ParseError on a malformed value."""
    try:
        assert isinstance(obj, dict)
        blocks = {int(n): Block(str(s), _opt_int(nid), z, tuple(vz)) for n, (s, nid, z, vz) in obj["blocks"].items()}
        zones = {(int(nid), str(name)): ZoneSpan(_opt_int(start), int(spanned), int(present), int(early))
                 for nid, name, start, spanned, present, early in obj["zones"]}
        return HotplugState(str(obj["release"]), int(obj["block_size"]), str(obj["auto_online"]),
                            str(obj["online_policy"]), int(obj["auto_movable_ratio"]),
                            bool(obj["auto_movable_numa_aware"]), bool(obj["movable_node"]), blocks, zones)
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"snapshot state malformed ({type(exc).__name__}: {exc})") from None


def _opt_int(v: object) -> int | None:
    return None if v is None else int(v)  # type: ignore[call-overload]


def parse_zoneinfo_spans(text: str) -> dict[tuple[int, str], ZoneSpan]:
    """Zone spans from /proc/zoneinfo (``mm/vmstat.c``, ``zoneinfo_show_print``)."""
    out: dict[tuple[int, str], ZoneSpan] = {}
    key: tuple[int, str] | None = None
    vals: dict[str, int] = {}

    def flush() -> None:
        if key is not None:
            if "spanned" not in vals or "present" not in vals:
                raise ParseError(f"zoneinfo: node {key[0]} zone {key[1]} has no spanned/present line")
            out[key] = ZoneSpan(vals.get("start_pfn"), vals["spanned"], vals["present"], vals["present"])

    for line in text.splitlines():
        m = re.match(r"Node (\d+), zone\s+(\S+)$", line)
        if m:
            flush()
            key, vals = (int(m.group(1)), m.group(2)), {}
            continue
        m = re.match(r"\s+(spanned|present|start_pfn:)\s+(\d+)$", line)
        if m and key is not None:
            vals[m.group(1).rstrip(":")] = int(m.group(2))
    flush()
    if not out:
        raise ParseError("zoneinfo: no 'Node N, zone NAME' section")
    return out


def read_blocks(root: Root) -> Reading[dict[int, Block]]:
    """Every memoryN block under /sys/devices/system/memory."""
    names = root.listdir(MEMORY)
    if not names.ok:
        return names  # type: ignore[return-value]
    blocks: dict[int, Block] = {}
    for name in names.value or []:
        m = re.fullmatch(r"memory(\d+)", name)
        if not m:
            continue
        block = read_block(root, int(m.group(1)))
        if block is not None:
            blocks[int(m.group(1))] = block
    return Reading(MEMORY, Status.OK, blocks)


def read_block(root: Root, number: int) -> Block | None:
    """One block, or None when it vanished while being read (hot-remove races the reader)."""
    base = f"{MEMORY}/memory{number}"
    state = root.read_text(f"{base}/state")
    if not state.ok:
        return None
    entries = root.listdir(base)
    nodes = [int(e[4:]) for e in entries.value or [] if re.fullmatch(r"node\d+", e)]
    zones = root.read_text(f"{base}/valid_zones")
    valid = tuple(zones.value.split()) if zones.ok and zones.value else ()
    st = state.value.strip()  # type: ignore[union-attr]
    zone = valid[0] if st == "online" and len(valid) == 1 and valid[0] != "none" else None
    return Block(st, nodes[0] if len(nodes) == 1 else None, zone, valid)


def read_policy(root: Root) -> dict[str, object]:
    """The onlining policy now, as HotplugState fields (kernel defaults where a file is absent)."""
    auto = root.read_text(f"{MEMORY}/auto_online_blocks")
    policy = root.read_text(f"{PARAMS}/online_policy")
    ratio = root.read_text(f"{PARAMS}/auto_movable_ratio")
    aware = root.read_text(f"{PARAMS}/auto_movable_numa_aware")
    return {
        "auto_online": auto.value.strip() if auto.ok else "offline",  # type: ignore[union-attr]
        "online_policy": policy.value.strip() if policy.ok else "contig-zones",  # type: ignore[union-attr]
        "auto_movable_ratio": int(ratio.value) if ratio.ok and ratio.value.strip().isdigit() else 301,  # type: ignore[union-attr,arg-type]
        "auto_movable_numa_aware": aware.value.strip() == "Y" if aware.ok else True,  # type: ignore[union-attr]
    }


def read_state(root: Root, release: str) -> Reading[HotplugState]:
    """The whole hotplug state; ABSENT when the kernel has no memory hotplug sysfs."""
    size = root.read_text(f"{MEMORY}/block_size_bytes").map(lambda t: parse_int(t, 16, "block_size_bytes"))
    if not size.ok:
        return size  # type: ignore[return-value]
    blocks = read_blocks(root)
    if not blocks.ok:
        return blocks  # type: ignore[return-value]
    zones = root.read_text("proc/zoneinfo").map(parse_zoneinfo_spans)
    if not zones.ok:
        return zones  # type: ignore[return-value]
    cmdline = root.read_text("proc/cmdline")
    return Reading(MEMORY, Status.OK, HotplugState(
        release=release,
        block_size=size.value,  # type: ignore[arg-type]
        movable_node="movable_node" in (cmdline.value or "").split(),
        **read_policy(root),  # type: ignore[arg-type]
        blocks=blocks.value,  # type: ignore[arg-type]
        zones=zones.value))  # type: ignore[arg-type]


@frozen
class BlockChange:
    """What happened to one block between two reads: add, remove, online or offline."""

    action: str
    block: int
    node: int | None
    zone: str | None


def diff_states(old: dict[int, Block], new: dict[int, Block]) -> list[BlockChange]:
    """The block events that turn ``old`` into ``new``, in block order (adds before onlines)."""
    changes: list[BlockChange] = []
    for n in sorted(set(old) | set(new)):
        a, b = old.get(n), new.get(n)
        if a is None and b is not None:
            changes.append(BlockChange("add", n, b.node, None))
            if b.state == "online":
                changes.append(BlockChange("online", n, b.node, b.zone))
        elif b is None and a is not None:
            if a.state == "online":
                changes.append(BlockChange("offline", n, a.node, a.zone))
            changes.append(BlockChange("remove", n, a.node, None))
        elif a is not None and b is not None and a.state != b.state:
            if b.state == "online":
                changes.append(BlockChange("online", n, b.node, b.zone))
            elif a.state == "online" and b.state == "offline":
                changes.append(BlockChange("offline", n, a.node, a.zone))
    return changes


def with_block(state: HotplugState, number: int, block: Block | None) -> HotplugState:
    """``state`` with one block replaced (None removes it)."""
    blocks = dict(state.blocks)
    if block is None:
        blocks.pop(number, None)
    else:
        blocks[number] = block
    return replace(state, blocks=blocks)
