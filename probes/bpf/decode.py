"""Pure decoding of the perf events hotplug.c submits (``struct event``)."""
from __future__ import annotations

import errno
import struct

from probes.records import frozen
from probes.reading import ParseError

#: ``struct event`` in hotplug.c: 10 x u64/s64, 8 x u32/s32, zone[16], comm[16]; little endian (x86_64).
EVENT = struct.Struct("<QQQQqQQQQQIiiIIIIi16s16s")
KINDS = {1: "add", 2: "online", 3: "offline", 4: "remove"}
#: enum { MMOP_OFFLINE = 0, MMOP_ONLINE, MMOP_ONLINE_KERNEL, MMOP_ONLINE_MOVABLE } (include/linux/memory_hotplug.h)
ONLINE_TYPES = {0: "offline", 1: "online", 2: "online_kernel", 3: "online_movable"}


@frozen
class MemoryGroup:
    """``struct memory_group`` (include/linux/memory.h) as the call found it, before its own pages."""

    node: int
    dynamic: bool
    max_pages: int  # static: s.max_pages; dynamic: d.unit_pages
    present_kernel_pages: int
    present_movable_pages: int


@frozen
class HotplugEvent:
    """One hot-add, online, offline or hot-remove call as the kernel made it."""

    kind: str  # add | online | offline | remove
    time_ns: int  # CLOCK_MONOTONIC at entry
    duration_ns: int
    start_pfn: int
    nr_pages: int
    node: int | None  # None when the caller passed a memory-group id (MHP_NID_IS_MGID)
    zone: str | None  # zone->name the kernel used (online/offline only)
    online_type: str | None  # requested type, from zone_for_pfn_range (online only)
    result: int  # 0 or -errno
    pid: int
    comm: str
    isolation_checks: int = 0
    isolation_failures: int = 0
    migrated: int = 0
    migrate_failed: int = 0
    group: MemoryGroup | None = None  # the memory group passed to online_pages/offline_pages

    @property
    def error(self) -> str | None:
        """The errno name of a failed call (``EBUSY``), None on success."""
        if self.result >= 0:
            return None
        return errno.errorcode.get(-self.result, f"errno {-self.result}")


def _cstr(raw: bytes, what: str) -> str:
    text, nul, _ = raw.partition(b"\0")
    if not nul:
        raise ParseError(f"{what} is not NUL-terminated")
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise ParseError(f"{what} {text!r} is not ASCII") from None


def decode_event(raw: bytes) -> HotplugEvent:
    """Decode one raw ``struct event``; raise ParseError when it is not one."""
    if len(raw) < EVENT.size:
        raise ParseError(f"event of {len(raw)} bytes, expected {EVENT.size}")
    (ts, dur, start, nr, ret, migrated, mfailed, gmax, gkernel, gmovable, kind, nid, otype,
     checks, failures, pid, gdynamic, gnid, zone, comm) = EVENT.unpack_from(raw)
    if kind not in KINDS:
        raise ParseError(f"unknown event kind {kind}")
    if otype != -1 and otype not in ONLINE_TYPES:
        raise ParseError(f"unknown online type {otype}")
    if ret > 0 or ret < -4095:
        raise ParseError(f"result {ret} is neither 0 nor -errno")
    if gdynamic not in (0, 1):
        raise ParseError(f"group_dynamic {gdynamic} is not a bool")
    name = _cstr(zone, "zone name")
    group = MemoryGroup(gnid, bool(gdynamic), gmax, gkernel, gmovable) if gmax else None
    return HotplugEvent(
        kind=KINDS[kind], time_ns=ts, duration_ns=dur, start_pfn=start, nr_pages=nr,
        node=None if nid < 0 else nid, zone=name or None,
        online_type=ONLINE_TYPES.get(otype), result=ret, pid=pid, comm=_cstr(comm, "comm"),
        isolation_checks=checks, isolation_failures=failures, migrated=migrated, migrate_failed=mfailed,
        group=group)
