"""The boot log: the kernel's early-boot story as typed events (probes/bootlog_events.py).

:func:`parse_boot_log` is pure and makes one pass over the text: each line's
timestamp is stripped, a cheap key (the message's first word) picks the one or
two precompiled patterns that may match, and lines nobody claims are ignored.
It accepts ``dmesg`` output (``[    0.000000] msg``, also ``<6>`` prefixes and
``[T0]`` caller ids), /dev/kmsg records (``6,1,0,-;msg``, ``' KEY=value'``
continuation lines dropped) and bare messages. :func:`read_boot_log_text` is the
one reader of /dev/kmsg.
"""
from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

from probes import bootlog_efi
from probes import bootlog_events as ev
from probes.bootlog_e820 import e820_type_name
from probes.bootlog_memblock import HEX as _HEX
from probes.bootlog_memblock import hex_range as _range
from probes.bootlog_memblock import memblock_call, memblock_region
from probes.reading import ParseError, Reading, Status
from probes.root import Root

DMESG_PATH = "var/log/dmesg"
KMSG_PATH = "dev/kmsg"
#: Stop reading /dev/kmsg after this many bytes (log_buf_len is at most a few tens of MiB).
KMSG_MAX_BYTES = 256 << 20

_MEM = rf"\[mem ({_HEX})-({_HEX})\]"

# A line's prefix: optional syslog level '<6>', timestamp '[    1.234567]', caller id '[    T1]'.
_STAMP = re.compile(r"(?:<\d+>)?\[\s*(\d+)\.(\d+)\](?:\[\s*[TC]\d+\])? ?")
_KMSG = re.compile(r"(\d+),(\d+),(\d+),[^;]*;")
_KMSG_DICT = re.compile(r" [A-Z_]+=")  # a /dev/kmsg continuation line: ' SUBSYSTEM=acpi'
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

E = TypeVar("E", bound=ev.Event)


@dataclass(frozen=True)
class BootLog:
    """The events of one boot log, in log order.

    ``complete`` is False when the log does not reach back to the kernel's first
    lines (the ring buffer rotated, or the file was cut): ``incomplete_reason`` says why.
    """

    events: tuple[ev.Event, ...]
    complete: bool
    incomplete_reason: str = ""

    def of(self, cls: type[E]) -> list[E]:
        """The events of one class, in log order."""
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def release(self) -> str | None:
        """The kernel release from ``Linux version``."""
        found = self.of(ev.KernelRelease)
        return found[0].release if found else None

    @property
    def command_line(self) -> str | None:
        """The command line as setup_arch printed it (else start_kernel's ``Kernel command line``)."""
        found = sorted(self.of(ev.CommandLine), key=lambda c: not c.early)
        return found[0].text if found else None

    @property
    def e820_map(self) -> list[ev.E820Entry]:
        """The firmware's map: ``BIOS-e820`` lines, or the ``extended`` table that follows them when
        the boot loader passed more entries than boot_params holds (the EFI stub's setup_e820 puts
        the rest in SETUP_E820_EXT setup_data; arch/x86/kernel/e820.c e820__memory_setup_extended
        appends them and prints the whole table)."""
        extended = [e for e in self.of(ev.E820Entry) if e.origin == "extended"]
        return extended or [e for e in self.of(ev.E820Entry) if e.origin == "BIOS-e820"]

    @property
    def user_map(self) -> list[ev.E820Entry]:
        """The last ``user-defined physical RAM map`` (mem=, memmap=), empty when none was printed."""
        return self._last_table("user")

    def _last_table(self, origin: str) -> list[ev.E820Entry]:
        out: list[ev.E820Entry] = []
        for e in self.events:
            if isinstance(e, ev.E820Table) and e.origin == origin:
                out = []
            elif isinstance(e, ev.E820Entry) and e.origin == origin:
                out.append(e)
        return out

    @property
    def srat_ranges(self) -> list[ev.SratMemory]:
        return self.of(ev.SratMemory)

    @property
    def zone_ranges(self) -> list[ev.ZoneRange]:
        return self.of(ev.ZoneRange)

    @property
    def movable_zone_start(self) -> dict[int, int]:
        """Node -> the address its movable zone starts at (only nodes the kernel listed)."""
        return {e.node: e.start for e in self.of(ev.MovableZoneStart)}

    @property
    def early_node_ranges(self) -> list[ev.EarlyNodeRange]:
        return self.of(ev.EarlyNodeRange)

    @property
    def node_data(self) -> dict[int, ev.NodeData]:
        """Node -> where its NODE_DATA was allocated."""
        return {e.node: e for e in self.of(ev.NodeData)}

    @property
    def reservations(self) -> list[ev.Event]:
        """Early reservations the log names: RAMDISK, crashkernel, ACPI tables, NODE_DATA."""
        return [e for e in self.events if isinstance(e, ev.RESERVATIONS)]

    @property
    def memblock_calls(self) -> list[ev.Event]:
        """memblock=debug calls (ranges and allocation requests), empty without memblock=debug."""
        return [e for e in self.events if isinstance(e, (ev.MemblockRange, ev.MemblockAlloc))]


# --- one handler per message key: (regex, builder(match, line, usec) -> Event) ----------

Builder = Callable[[re.Match[str], int, "int | None"], ev.Event]
_HANDLERS: dict[str, list[tuple[re.Pattern[str], Builder]]] = {}


def _on(keys: str, pattern: str) -> Callable[[Builder], Builder]:
    compiled = re.compile(pattern)

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


@_on("ACPI", rf"ACPI: SRAT: Node (\d+) PXM (\d+) {_MEM}( hotplug)?( non-volatile)?\s*$")
def _srat_memory(m: re.Match[str], n: int, t: int | None) -> ev.Event:
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


@_on("On", r"On node (\d+), zone (\w+): (\d+) pages in unavailable ranges")
def _unavailable(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.UnavailablePages(n, t, int(m.group(1)), m.group(2), int(m.group(3)))


@_on("mem", r"mem auto-init: (.*?)\s*$")
def _auto_init(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.MemAutoInit(n, t, m.group(1))


@_on("Memory", r"Memory: (\d+)K/(\d+)K available(?:.*?(\d+)K reserved)?")
def _totals(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    reserved = int(m.group(3)) << 10 if m.group(3) else None
    return ev.MemoryTotals(n, t, int(m.group(1)) << 10, int(m.group(2)) << 10, reserved)


@_on("last_pfn", rf"last_pfn = ({_HEX}) max_arch_pfn = ({_HEX})")
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


def _indented(block: str, msg: str, n: int, t: int | None) -> ev.Event | None:
    if block == "zones" and (m := _ZONE.match(msg)):
        if m.group(4):
            return ev.ZoneRange(n, t, m.group(1), None, None)
        return ev.ZoneRange(n, t, m.group(1), *_range(m.group(2), m.group(3), n))
    if block == "movable" and (m := _MOVABLE.match(msg)):
        return ev.MovableZoneStart(n, t, int(m.group(1)), int(m.group(2), 16))
    if block == "early" and (m := _EARLY.match(msg)):
        return ev.EarlyNodeRange(n, t, int(m.group(1)), *_range(m.group(2), m.group(3), n))
    if block == "memblock":
        return memblock_region(msg, n, t)
    return None


# --- the pass -------------------------------------------------------------------------

def _messages(text: str) -> Iterator[tuple[int, int | None, str]]:
    """(line number, usec or None, message) for every line that carries a message."""
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line:
            continue
        if line[0] == "<" or line[0] == "[":
            if m := _STAMP.match(line):
                yield n, int(m.group(1)) * 1_000_000 + int(m.group(2)[:6].ljust(6, "0")), line[m.end():]
                continue
        elif line[0].isdigit() and (m := _KMSG.match(line)):
            yield n, int(m.group(3)), line[m.end():]
            continue
        elif line[0] == " " and _KMSG_DICT.match(line):
            continue
        yield n, None, line


def parse_boot_log(text: str) -> BootLog:
    """Turn a kernel log into :class:`BootLog`; unknown lines are skipped.

    Raises ParseError for input that is not a text log (NUL bytes) or for a line the
    kernel could not have written (a range that ends before it starts).
    """
    if "\0" in text:
        raise ParseError("not a text log (NUL byte)")
    events: list[ev.Event] = []
    block = ""
    first_usec: int | None = None
    first_msg = ""
    seen_first = False
    for n, usec, msg in _messages(text):
        if not seen_first:
            seen_first, first_usec, first_msg = True, usec, msg
        if msg[:1] == " " or msg[:1] == "\t":
            if block and (event := _indented(block, msg, n, usec)) is not None:
                events.append(event)
                continue
            msg = msg.lstrip()  # e.g. '    NODE_DATA(2) on node 1'
        else:
            block = _BLOCK_HEADERS.get(msg.rstrip(), "")
            if block:
                continue
        key_match = _KEY.match(msg)
        if key_match is None:
            continue
        key = key_match.group()
        if key.lstrip("_").startswith("memblock_"):  # 7.x: '__memblock_reserve: [...]'
            if (event := memblock_call(msg, n, usec)) is not None:
                events.append(event)
            continue
        for pattern, build in _HANDLERS.get(key, ()):
            if m := pattern.match(msg):
                events.append(build(m, n, usec))
                break
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
        kmsg = _read_kmsg(os.path.join(root.prefix, KMSG_PATH))
        if kmsg.ok:
            root.touched.add(KMSG_PATH)
            return kmsg
        dmesg = root.read_text(DMESG_PATH)
        if dmesg.ok:
            return dmesg
        return kmsg if kmsg.status is Status.DENIED else dmesg
    return root.read_text(DMESG_PATH)


def _read_kmsg(path: str) -> Reading[str]:
    """Every record of /dev/kmsg, formatted ``[%5d.%06d] message``, read until EAGAIN."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return Reading(KMSG_PATH, Status.ABSENT, None, "absent")
    except PermissionError as exc:
        return Reading(KMSG_PATH, Status.DENIED, None, f"{exc.strerror} (needs root)")
    except OSError as exc:
        return Reading(KMSG_PATH, Status.MALFORMED, None, exc.strerror or str(exc))
    lines: list[str] = []
    total = 0
    try:
        while total < KMSG_MAX_BYTES:
            try:
                record = os.read(fd, 1 << 16)  # one record per read
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # overwritten while reading: the next read resumes
                    continue
                if exc.errno in (errno.EACCES, errno.EPERM):
                    return Reading(KMSG_PATH, Status.DENIED, None, f"{exc.strerror} (needs root)")
                return Reading(KMSG_PATH, Status.MALFORMED, None, exc.strerror or str(exc))
            if not record:
                break
            total += len(record)
            lines.append(kmsg_record_to_dmesg(record))
    finally:
        os.close(fd)
    return Reading(KMSG_PATH, Status.OK, "".join(lines))


_KMSG_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")


def kmsg_record_to_dmesg(record: bytes) -> str:
    """One /dev/kmsg record (``pri,seq,usec,flags;message`` + `` KEY=value`` lines) as a dmesg line.

    The kernel escapes unprintable bytes and backslashes as ``\\xNN`` (kernel/printk/printk.c
    msg_add_ext_text); they are restored, as dmesg does.
    """
    head, _, rest = record.partition(b";")
    raw = _KMSG_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), rest.split(b"\n", 1)[0])
    message = raw.decode("utf-8", "backslashreplace")
    fields = head.split(b",")
    try:
        usec = int(fields[2])
    except (IndexError, ValueError):
        return message + "\n"
    return f"[{usec // 1_000_000:5d}.{usec % 1_000_000:06d}] {message}\n"


def read_boot_log(root: Root) -> Reading[BootLog]:
    """The parsed boot log of ``root``."""
    return read_boot_log_text(root).map(parse_boot_log)
