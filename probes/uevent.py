"""Kernel uevents of memory blocks: a pure datagram parser and a pyroute2 netlink listener.

The kernel broadcasts one datagram per kobject event on NETLINK_KOBJECT_UEVENT,
group 1 (``lib/kobject_uevent.c``, ``kobject_uevent_net_broadcast``)::

    online@/devices/system/memory/memory40\\0ACTION=online\\0DEVPATH=...\\0SUBSYSTEM=memory\\0SEQNUM=823\\0

Memory blocks send ``add``/``remove`` when the block device is created or
removed (``drivers/base/memory.c``) and ``online``/``offline`` from
``device_online``/``device_offline``. A write to ``memoryN/uevent`` makes a
synthetic event carrying ``SYNTH_UUID``. Messages that udevd re-broadcasts
(``libudev`` header, group 2) are not kernel events and are refused.
"""
from __future__ import annotations

import errno
import os
import re
import socket

from probes.records import frozen
from probes.reading import ParseError

#: Largest uevent datagram the kernel builds (UEVENT_BUFFER_SIZE in include/linux/kobject.h).
UEVENT_BUFFER_SIZE = 2048
KERNEL_GROUP = 1
_BLOCK = re.compile(r"/devices/system/memory/memory(\d+)")


@frozen
class UEvent:
    """One kernel uevent: the action, the device path and its KEY=VALUE environment."""

    action: str
    devpath: str
    env: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return dict(self.env).get(key)

    @property
    def subsystem(self) -> str | None:
        return self.get("SUBSYSTEM")

    @property
    def seqnum(self) -> int | None:
        value = self.get("SEQNUM")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def synthetic(self) -> bool:
        """True for an event made by writing to a ``uevent`` file, not by the kernel's own change."""
        return self.get("SYNTH_UUID") is not None

    @property
    def block(self) -> int | None:
        """The memory block number of a ``memoryN`` device, else None."""
        m = _BLOCK.fullmatch(self.devpath)
        return int(m.group(1)) if m and self.subsystem == "memory" else None

    def to_json(self) -> dict[str, object]:
        return {"action": self.action, "devpath": self.devpath, "env": dict(self.env)}


def parse_uevent(data: bytes) -> UEvent:
    """Decode one kernel uevent datagram; raise ParseError on anything else."""
    if data.startswith(b"libudev\0"):
        raise ParseError("a udevd re-broadcast (libudev header), not a kernel uevent")
    if not data.endswith(b"\0"):
        raise ParseError("uevent datagram not NUL-terminated")
    if len(data) > UEVENT_BUFFER_SIZE:
        raise ParseError(f"uevent datagram of {len(data)} bytes exceeds the kernel's {UEVENT_BUFFER_SIZE}")
    try:
        parts = data[:-1].decode("utf-8").split("\0")
    except UnicodeDecodeError as exc:
        raise ParseError(f"uevent datagram not UTF-8 at byte {exc.start}") from None
    action, at, devpath = parts[0].partition("@")
    if not at or not action or not devpath.startswith("/"):
        raise ParseError(f"uevent header {parts[0][:60]!r} is not ACTION@/DEVPATH")
    env: list[tuple[str, str]] = []
    for item in parts[1:]:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ParseError(f"uevent field {item[:60]!r} is not KEY=VALUE")
        env.append((key, value))
    fields = dict(env)
    if fields.get("ACTION", action) != action or fields.get("DEVPATH", devpath) != devpath:
        raise ParseError(f"uevent header {parts[0][:60]!r} disagrees with its ACTION/DEVPATH fields")
    return UEvent(action, devpath, tuple(env))


class UeventListener:
    """A bound NETLINK_KOBJECT_UEVENT socket (made by pyroute2) read as raw datagrams.

    :meth:`receive` returns the parsed memory events waiting and the number of
    datagrams the kernel dropped (ENOBUFS: the receive buffer overflowed, the
    count of lost events is unknown, so 1 stands for "one or more").
    """

    def __init__(self, rcvbuf: int | None = None) -> None:
        from pyroute2 import UeventSocket  # netlink setup; a missing pyroute2 is reported by the caller

        self._nl = UeventSocket()
        try:
            if rcvbuf is not None:
                self._nl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self._nl.bind(groups=KERNEL_GROUP)
            self._sock = socket.socket(fileno=os.dup(self._nl.fileno()))
        except BaseException:
            self._nl.close()
            raise
        self._sock.setblocking(False)
        self.malformed: list[tuple[bytes, str]] = []

    def fileno(self) -> int:
        return self._sock.fileno()

    def receive(self) -> tuple[list[tuple[bytes, UEvent]], int]:
        """Every memory uevent queued now (with its datagram), and how many overflows (ENOBUFS) were met."""
        events: list[tuple[bytes, UEvent]] = []
        overflows = 0
        while True:
            try:
                data = self._sock.recv(UEVENT_BUFFER_SIZE * 4)
            except BlockingIOError:
                return events, overflows
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    overflows += 1
                    continue
                raise
            try:
                event = parse_uevent(data)
            except ParseError as exc:
                self.malformed.append((data, str(exc)))
                continue
            if event.subsystem == "memory":
                events.append((data, event))

    def close(self) -> None:
        self._sock.close()
        self._nl.close()
