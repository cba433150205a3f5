"""The boot log's ``memblock=debug`` lines (mm/memblock.c), parsed into events of
:mod:`probes.bootlog_events`, and the inclusive-range helper every boot-log parser shares.

* calls: ``memblock_reserve: [0x..-0x..] caller`` (7.x: ``__memblock_reserve: [..] nid=-1
  flags=20 caller``), ``memblock_alloc_try_nid: N bytes align=.. nid=.. from=.. max_addr=.. caller``;
* regions of a ``MEMBLOCK configuration:`` dump (memblock_dump):
  `` memory[0x4]\\t[0x..-0x..], 0x.. bytes on node 2 flags: 0x1``.
"""
from __future__ import annotations

import re

from probes import bootlog_events as ev
from probes.reading import ParseError

HEX = r"0x[0-9a-fA-F]+"


def hex_range(lo: str, hi: str, lineno: int) -> tuple[int, int]:
    """Inclusive kernel range text -> ``(start, end)`` with end exclusive."""
    start, end = int(lo, 16), int(hi, 16) + 1
    if end < start:
        raise ParseError(f"line {lineno}: range {lo}-{hi} ends before it starts")
    return start, end


_MB_RANGE = re.compile(rf"_*(memblock_\w+): \[({HEX})-({HEX})\](?: nid=(-?\d+))?(?: flags=(\w+))? (\S+)")
_MB_ALLOC = re.compile(rf"(memblock_\w+): (\d+) bytes align=({HEX}) (?:nid=(-?\d+) )?"
                       rf"from=({HEX}) max_addr=({HEX}) (\S+)")
_REGION = re.compile(rf"\s+(memory|reserved|physmem)\[(0x[0-9a-f]+)\]\s+\[({HEX})-({HEX})\], "
                     rf"{HEX} bytes(?: on node (\d+))? flags: (0x[0-9a-f]+|[A-Z_|]+)")
#: Flag names newer kernels print instead of hex (include/linux/memblock.h enum memblock_flags).
_MEMBLOCK_FLAGS = {"NONE": 0, "HOTPLUG": 0x1, "MIRROR": 0x2, "NOMAP": 0x4, "DRIVER_MANAGED": 0x8,
                   "RSRV_NOINIT": 0x10, "RSRV_KERN": 0x20, "KHO_SCRATCH": 0x40}


def memblock_call(msg: str, n: int, t: int | None) -> ev.Event | None:
    """A memblock=debug call line, or None when it is none the parser knows."""
    if "[" in msg and (m := _MB_RANGE.match(msg)):
        nid, flags = m.group(4), m.group(5)
        return ev.MemblockRange(n, t, m.group(1), *hex_range(m.group(2), m.group(3), n), m.group(6),
                                int(nid) if nid else None, int(flags, 16) if flags else None)
    if m := _MB_ALLOC.match(msg):
        nid = m.group(4)
        return ev.MemblockAlloc(n, t, m.group(1), int(m.group(2)), int(m.group(3), 16),
                                int(nid) if nid else None, int(m.group(5), 16), int(m.group(6), 16), m.group(7))
    return None


def memblock_region(msg: str, n: int, t: int | None) -> ev.Event | None:
    """One region line of a ``MEMBLOCK configuration:`` dump, or None."""
    if not (m := _REGION.match(msg)):
        return None
    flags = m.group(6)
    if flags.startswith("0x"):
        bits = int(flags, 16)
    elif all(name in _MEMBLOCK_FLAGS for name in flags.split("|")):
        bits = sum(_MEMBLOCK_FLAGS[name] for name in set(flags.split("|")))
    else:
        return None
    return ev.MemblockRegion(n, t, m.group(1), int(m.group(2), 16), *hex_range(m.group(3), m.group(4), n),
                             int(m.group(5)) if m.group(5) else None, bits)
