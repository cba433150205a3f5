"""The boot log: the kernel's early-boot story as typed events (probes/bootlog_events.py).

:func:`parse_boot_log` is pure and makes one pass over the text: each line's
timestamp is stripped, a cheap key (the message's first word) picks the one or
two patterns (compiled at first use) that may match, and lines nobody claims are ignored.
It accepts ``dmesg`` output (``[    0.000000] msg``, also ``<6>`` prefixes and
``[T0]`` caller ids), /dev/kmsg records (``6,1,0,-;msg``, ``' KEY=value'``
continuation lines dropped) and bare messages. :func:`read_boot_log_text` reads the
log (/dev/kmsg through probes/kmsg.py); :func:`message_shape` tells whether the parser
knows a message (probes/logform.py rejoins wrapped lines only into known shapes).
"""
from __future__ import annotations

import os
import re
from typing import Callable, Iterator

from probes import bootlog_efi
from probes import bootlog_events as ev
from probes.bootlog_e820 import e820_type_name
from probes.bootlog_memblock import HEX as _HEX
from probes.bootlog_memblock import hex_range as _range
from probes.bootlog_memblock import memblock_call, memblock_region
from probes.bootlog_events import BootLog  # noqa: F401 (re-exported)
from probes.kmsg import KMSG_PATH, read_kmsg
from probes.reading import ParseError, Reading, Status
from probes.root import Root

DMESG_PATH = "var/log/dmesg"

_MEM = rf"\[mem ({_HEX})-({_HEX})\]"

# A line's prefix: optional syslog level '<6>', timestamp '[    1.234567]', caller id '[    T1]'.
_STAMP = re.compile(r"(?:<\d+>)?\[\s*(\d+)\.(\d+)\](?:\[\s*[TC]\d+\])? ?")
_KMSG = re.compile(r"(\d+),(\d+),(\d+),[^;]*;")
_KMSG_DICT = re.compile(r" [A-Z_]+=")  # a /dev/kmsg continuation line: ' SUBSYSTEM=acpi'
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


# --- one handler per message key: (regex, builder(match, line, usec) -> Event) ----------

Builder = Callable[[re.Match[str], int, "int | None"], ev.Event]


class _Pattern:
    """A handler's regex, compiled when a line first reaches it: a log holds a few of the
    kinds, and compiling all of them cost more than the rest of importing this module."""

    __slots__ = ("text", "compiled")

    def __init__(self, text: str) -> None:
        self.text = text
        self.compiled: re.Pattern[str] | None = None

    def match(self, msg: str) -> re.Match[str] | None:
        p = self.compiled
        if p is None:
            p = self.compiled = re.compile(self.text)
        return p.match(msg)


_HANDLERS: dict[str, list[tuple[_Pattern, Builder]]] = {}


def _on(keys: str, pattern: str) -> Callable[[Builder], Builder]:
    compiled = _Pattern(pattern)

    def register(fn: Builder) -> Builder:
        for key in keys.split():
            _HANDLERS.setdefault(key, []).append((compiled, fn))
        return fn
    return register


@_on("Linux", r"Linux version (\S+)(.*)")
def _release(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.KernelRelease(n, t, m.group(1), m.group(0))


@_on("Command", r"Command line: ?(.*)")
def _cmdline(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.CommandLine(n, t, m.group(1), True)


@_on("Kernel", r"Kernel command line: ?(.*)")
def _kernel_cmdline(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.CommandLine(n, t, m.group(1), False)


@_on("BIOS-provided user-defined modified extended",
     r"(BIOS-provided|user-defined|modified|extended) physical RAM map:\s*$")
def _e820_table(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    origin = {"BIOS-provided": "BIOS-e820", "user-defined": "user",
              "extended": "reserve setup_data"}.get(m.group(1), m.group(1))
    return ev.E820Table(n, t, origin)


@_on("BIOS-e820 user modified reserve extended",
     rf"(BIOS-e820|user|modified|reserve setup_data|extended): {_MEM} (.+?)\s*$")
def _e820_entry(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.E820Entry(n, t, m.group(1), *_range(m.group(2), m.group(3), n), e820_type_name(m.group(4), n))


@_on("e820", rf"e820: (update|remove) {_MEM}(?: (.+?))?(?: ==> (.+?))?\s*$")
def _e820_change(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    new = e820_type_name(m.group(5), n) if m.group(1) == "update" and m.group(5) else None
    old = e820_type_name(m.group(4), n) if m.group(4) else ""
    return ev.E820Change(n, t, m.group(1), *_range(m.group(2), m.group(3), n), old, new)


@_on("ACPI SRAT", rf"(?:ACPI: )?SRAT: Node (\d+) PXM (\d+) {_MEM}( hotplug| Hot Pluggable)?( non-volatile)?\s*$")
def _srat_memory(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    """acpi_numa_memory_affinity_init: 'ACPI: SRAT: ...' since the move to drivers/acpi/numa/srat.c
    (pr_fmt "ACPI: "); arch/x86/mm/srat.c printed 'SRAT: ...' (3.10, 4.4), ' Hot Pluggable' in 3.9/3.10."""
    return ev.SratMemory(n, t, int(m.group(1)), int(m.group(2)), *_range(m.group(3), m.group(4), n),
                         bool(m.group(5)), bool(m.group(6)))


@_on("ACPI", r"ACPI: Table Upgrade: (\w+) \[(.{4})-(.{6})-(.{8})\]")
def _upgrade(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.AcpiTableUpgrade(n, t, m.group(1), m.group(2), m.group(3), m.group(4))


@_on("ACPI", rf"ACPI: Reserving (.{{4}}) table memory at {_MEM}")
def _acpi_reserved(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.AcpiTableReserved(n, t, m.group(1), *_range(m.group(2), m.group(3), n))


@_on("ACPI", r"ACPI: (\S{4}) 0x([0-9A-Fa-f]+) ([0-9A-Fa-f]+) \(v(\d+) (.{6}) (.{8}) ([0-9A-Fa-f]{8}) ")
def _acpi_table(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.AcpiTable(n, t, m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4)),
                        m.group(5), m.group(6), int(m.group(7), 16))


@_on("SRAT", r"SRAT: PXM (\d+) -> (X2APIC|APIC) (0x[0-9a-fA-F]+) -> Node (\d+)")
def _srat_cpu(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.SratCpu(n, t, int(m.group(1)), int(m.group(3), 16), int(m.group(4)), m.group(2) == "X2APIC")


@_on("NUMA", rf"NUMA: Node (\d+) {_MEM} \+ {_MEM} -> {_MEM}")
def _numa_merge(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    g = m.groups()
    return ev.NumaMerge(n, t, int(g[0]), _range(g[1], g[2], n), _range(g[3], g[4], n), _range(g[5], g[6], n))


@_on("NUMA", r"NUMA: Initialized distance table, cnt=(\d+)")
def _numa_distance(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.NumaNote(n, t, "distance_table", int(m.group(1)))


@_on("NUMA", r"NUMA: nodes only cover (\d+)MB of your (\d+)MB e820 RAM")
def _numa_coverage(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.NumaCoverageRejected(n, t, int(m.group(1)) << 20, int(m.group(2)) << 20)


@_on("NUMA", r"NUMA turned off")
def _numa_off(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.NumaNote(n, t, "off")


@_on("No", r"No NUMA configuration found")
def _numa_none(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.NumaNote(n, t, "no_config")


@_on("Faking", rf"Faking (?:a node|node (\d+)) at {_MEM}")
def _fake_node(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    node = int(m.group(1)) if m.group(1) else None
    return ev.FakeNode(n, t, node, *_range(m.group(2), m.group(3), n))


@_on("NODE_DATA", rf"NODE_DATA\((\d+)\) allocated {_MEM}")
def _node_data(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.NodeData(n, t, int(m.group(1)), *_range(m.group(2), m.group(3), n))


@_on("NODE_DATA", r"NODE_DATA\((\d+)\) on node (\d+)")
def _node_data_elsewhere(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.NodeDataElsewhere(n, t, int(m.group(1)), int(m.group(2)))


@_on("printk", r"printk: (?:log_buf_len: (\d+)|log buffer data \+ meta data: \d+ \+ \d+ = (\d+)) bytes")
def _log_buf(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    """setup_log_buf (kernel/printk/printk.c): 6.x prints the buffer's size; 7.x the buffer plus
    its record metadata (descriptors and infos), each a memblock_alloc of its own."""
    return ev.EarlyAllocation(n, t, "log buffer", int(m.group(1) or m.group(2)), True)


@_on("Dentry Inode-cache", r"(Dentry cache|Inode-cache) hash table entries: \d+ \(order: -?\d+, (\d+) bytes, (\w+)")
def _early_hash(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.EarlyAllocation(n, t, f"{m.group(1)} hash table", int(m.group(2)), m.group(3) == "linear")


@_on("RAMDISK", rf"RAMDISK: {_MEM}")
def _ramdisk(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.Ramdisk(n, t, *_range(m.group(1), m.group(2), n))


@_on("Reserving", r"Reserving (\d+)MB of (low )?memory at (\d+)MB for crashkernel")
def _crash_61(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    start = int(m.group(3)) << 20
    return ev.Crashkernel(n, t, start, start + (int(m.group(1)) << 20), bool(m.group(2)))


@_on("crashkernel", rf"crashkernel (low memory )?reserved: ({_HEX}) - ({_HEX}) \(")
def _crash_generic(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    start, end = int(m.group(2), 16), int(m.group(3), 16)  # already exclusive
    if end < start:
        raise ParseError(f"line {n}: crashkernel range ends before it starts")
    return ev.Crashkernel(n, t, start, end, bool(m.group(1)))


@_on("cma", rf"cma: Reserved (\d+) MiB at ({_HEX})(?: on node (-?\d+))?")
def _cma(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    start = int(m.group(2), 16)
    return ev.CmaReserved(n, t, start, start + (int(m.group(1)) << 20),
                          int(m.group(3)) if m.group(3) is not None else None)


@_on("Initmem", rf"Initmem setup node (\d+) {_MEM}")
def _initmem(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.InitmemSetup(n, t, int(m.group(1)), *_range(m.group(2), m.group(3), n))


@_on("Initmem", r"Initmem setup node (\d+) as memoryless")
def _memoryless(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.NumaNote(n, t, "memoryless", int(m.group(1)))


@_on("On", r"On node (\d+), zone (\w+): (\d+) pages in unavailable ranges")
def _unavailable(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.UnavailablePages(n, t, int(m.group(1)), m.group(2), int(m.group(3)))


@_on("On", r"On node (\d+) totalpages: (\d+)")
def _node_totalpages(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.NodeTotalPages(n, t, int(m.group(1)), int(m.group(2)))


@_on("mem", r"mem auto-init: (.*?)\s*$")
def _auto_init(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.MemAutoInit(n, t, m.group(1))


@_on("Memory", r"Memory: (\d+)K/(\d+)K available(?:.*?(\d+)K reserved)?")
def _totals(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    reserved = int(m.group(3)) << 10 if m.group(3) else None
    return ev.MemoryTotals(n, t, int(m.group(1)) << 10, int(m.group(2)) << 10, reserved)


@_on("last_pfn e820", rf"(?:e820: )?last_pfn = ({_HEX}) max_arch_pfn = ({_HEX})")  # 'e820: ' until 4.x
def _last_pfn(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.LastPfn(n, t, int(m.group(1), 16), int(m.group(2), 16))


for _keys, _pattern, _build in bootlog_efi.HANDLERS:
    _on(_keys, _pattern)(_build)


# --- indented lines, read in the block their header opened -----------------------------

_BLOCK_HEADERS = {"Zone ranges:": "zones", "Movable zone start for each node": "movable",
                  "Early memory node ranges": "early", "MEMBLOCK configuration:": "memblock"}
_ZONE = re.compile(rf"\s+(\w+)\s+(?:\[mem ({_HEX})-({_HEX})\]|(empty))\s*$")
_MOVABLE = re.compile(rf"\s+Node (\d+): ({_HEX})\s*$")
_EARLY = re.compile(rf"\s+node\s+(\d+): {_MEM}")
#: Under 'On node N totalpages' (free_area_init_core, zone_pcp_init, init_unavailable_range).
_ZONE_PAGES = re.compile(r"\s+(\w+) zone: (\d+) pages(, LIFO batch:\d+| in unavailable ranges| used for memmap)\s*$")
def _indented(block: str, msg: str, n: int, t: int | None) -> ev.Event | None:
    if block == "zones" and (m := _ZONE.match(msg)):
        if m.group(4):
            return ev.ZoneRange(n, t, m.group(1), None, None)
        return ev.ZoneRange(n, t, m.group(1), *_range(m.group(2), m.group(3), n))
    if block == "movable" and (m := _MOVABLE.match(msg)):
        return ev.MovableZoneStart(n, t, int(m.group(1)), int(m.group(2), 16))
    if block == "early" and (m := _EARLY.match(msg)):
        return ev.EarlyNodeRange(n, t, int(m.group(1)), *_range(m.group(2), m.group(3), n))
    if block.startswith("pages ") and (m := _ZONE_PAGES.match(msg)):
        node, zone, pages = int(block[6:]), m.group(1), int(m.group(2))
        if m.group(3).startswith(" in"):
            return ev.UnavailablePages(n, t, node, zone, pages)
        return ev.ZonePages(n, t, node, zone, pages, "present" if m.group(3).startswith(",") else "memmap")
    if block == "memblock":
        return memblock_region(msg, n, t)
    return None


#: What marks an indented line as an item of its block (a range or a node), which must parse.
_BLOCK_ITEM = {"zones": "[mem", "movable": "Node", "early": "[mem"}
#: Message starts of the lines the model is built from: one that none of its patterns reads is
#: refused with its line number rather than dropped (a format movcheck has not seen).
_KNOWN_KINDS = ("BIOS-e820: [mem", "user: [mem", "modified: [mem", "reserve setup_data: [mem",
                "e820: update [mem", "e820: remove [mem", "ACPI: SRAT: Node ", "NODE_DATA(",
                "Initmem setup node", "RAMDISK: [mem")


def _refuse_known_kind(msg: str, n: int) -> None:
    if msg.startswith(_KNOWN_KINDS):
        raise ParseError(f"line {n}: a line of a known kind movcheck cannot read: {msg.strip()[:80]!r}")


# --- the pass -------------------------------------------------------------------------

def split_line(line: str) -> tuple[int | None, str] | None:
    """A log line's timestamp (usec, None without one) and message; None for a /dev/kmsg
    ``' KEY=value'`` continuation line."""
    if line[:1] == "<" or line[:1] == "[":
        if m := _STAMP.match(line):
            return int(m.group(1)) * 1_000_000 + int(m.group(2)[:6].ljust(6, "0")), line[m.end():]
    elif line[:1].isdigit() and (m := _KMSG.match(line)):
        return int(m.group(3)), line[m.end():]
    elif line[:1] == " " and _KMSG_DICT.match(line):
        return None
    return None, line


def _messages(text: str) -> Iterator[tuple[int, int | None, str]]:
    """(line number, usec or None, message) for every line that carries a message."""
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if line and (got := split_line(line)) is not None:
            yield n, got[0], got[1]


def _event(msg: str, n: int, usec: int | None, block: str) -> tuple[ev.Event | None, str]:
    """The event one message makes (None when no pattern claims it) and the block (an indented
    list's header: 'Zone ranges:', ...) the next line is read in."""
    if msg[:1] == " " or msg[:1] == "\t":
        if block and (event := _indented(block, msg, n, usec)) is not None:
            return event, block
        if (item := _BLOCK_ITEM.get(block)) and item in msg:
            raise ParseError(f"line {n}: a '{block}' line movcheck cannot read: {msg.strip()[:80]!r}")
        msg = msg.lstrip()  # e.g. '    NODE_DATA(2) on node 1'
    else:
        block = _BLOCK_HEADERS.get(msg.rstrip(), "")
        if block:
            return None, block
    key_match = _KEY.match(msg)
    if key_match is None:
        return None, block
    key = key_match.group()
    if key.lstrip("_").startswith("memblock_"):  # 7.x: '__memblock_reserve: [...]'
        return memblock_call(msg, n, usec), block
    for pattern, build in _HANDLERS.get(key, ()):
        if m := pattern.match(msg):
            event = build(m, n, usec)
            if isinstance(event, ev.NodeTotalPages):  # the zone lines that follow name no node
                return event, f"pages {event.node}"
            return event, block
    _refuse_known_kind(msg, n)
    return None, block


def message_shape(msg: str, block: str = "") -> tuple[bool, str]:
    """Whether ``msg`` has a shape the parser knows (a message it reads, or a block header) when
    read in ``block``, and the block the next message is read in; a message the kernel could
    not have written (a range ending before it starts) is not known."""
    try:
        event, after = _event(msg, 0, None, block)
    except ParseError:
        return False, ""
    return event is not None or (after != "" and not msg[:1].isspace()), after


def parse_boot_log(text: str) -> BootLog:
    """Turn a kernel log into :class:`BootLog`; unknown lines are skipped.

    Raises ParseError (naming the line) for input that is not a text log (NUL bytes), for a
    line the kernel could not have written (a range that ends before it starts), and for a
    line of a kind the model is built from in a shape movcheck cannot read; a last line cut
    short (no newline at the end of the text) is dropped instead.
    """
    if "\0" in text:
        raise ParseError("not a text log (NUL byte)")
    last, cut = text.count("\n") + 1, not text.endswith("\n")
    events: list[ev.Event] = []
    block = ""
    first_usec: int | None = None
    first_msg = ""
    seen_first = False
    for n, usec, msg in _messages(text):
        if not seen_first:
            seen_first, first_usec, first_msg = True, usec, msg
        try:
            event, block = _event(msg, n, usec, block)
        except ParseError:
            if n == last and cut:  # a last line cut short: dropped
                continue
            raise
        if event is not None:
            events.append(event)
    complete, reason = _completeness(events, seen_first, first_usec, first_msg)
    return BootLog(tuple(events), complete, reason)


def _completeness(events: list[ev.Event], seen: bool, first_usec: int | None, first_msg: str) -> tuple[bool, str]:
    if not seen:
        return False, "the log is empty"
    if first_usec:
        return False, (f"the log starts {first_usec / 1e6:.6f} s after boot "
                       f"(the ring buffer rotated past the boot lines)")
    kinds = {type(e) for e in events}
    if ev.KernelRelease not in kinds:
        return False, "no 'Linux version' line: the log does not reach back to boot"
    if not any(isinstance(e, ev.CommandLine) for e in events):
        return False, "no 'Command line' line: the log does not reach back to boot"
    if ev.E820Entry not in kinds:
        return False, "no BIOS-e820 memory map lines: the log does not reach back to boot"
    if not first_msg.startswith("Linux version"):
        return False, f"the log starts with {first_msg[:60]!r}, not the kernel's 'Linux version' line"
    return True, ""


# --- reading --------------------------------------------------------------------------

def read_boot_log_text(root: Root) -> Reading[str]:
    """The kernel log as dmesg-style text.

    Live (``root.live``): read /dev/kmsg without blocking, falling back to
    var/log/dmesg when /dev/kmsg cannot be opened. In a snapshot: var/log/dmesg.
    """
    if root.live:
        kmsg = read_kmsg(os.path.join(root.prefix, KMSG_PATH))
        if kmsg.ok:
            root.touched.add(KMSG_PATH)
            return kmsg
        dmesg = root.read_text(DMESG_PATH)
        if dmesg.ok:
            return dmesg
        return kmsg if kmsg.status is Status.DENIED else dmesg
    return root.read_text(DMESG_PATH)


def read_boot_log(root: Root) -> Reading[BootLog]:
    """The parsed boot log of ``root`` (its text read once per root: a check quotes its lines)."""
    return root.once(read_boot_log_text).map(parse_boot_log)
