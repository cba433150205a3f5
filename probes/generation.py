"""Whether the machine changed while movcheck read it: the kernel's uevent sequence number.

Every change of a memory block (add, online, offline, remove) sends a uevent
(drivers/base/memory.c: device_online/device_offline and device add/del go through
kobject_uevent), and every uevent increments ``uevent_seqnum`` (lib/kobject_uevent.c),
which ``/sys/kernel/uevent_seqnum`` shows to everyone. Equal numbers before and after a
read mean no block changed during it; other devices' uevents count too, so a change
means "maybe", never "surely not".
"""
from __future__ import annotations

from typing import Callable, Generic, NamedTuple, TypeVar

from probes.reading import Reading
from probes.root import Root
from probes.sysfs import parse_int

T = TypeVar("T")

SEQNUM = "sys/kernel/uevent_seqnum"
#: How many times a reading of a live machine is made before it is given up as unsettled.
TRIES = 3


def parse_seqnum(text: str) -> int:
    """``uevent_seqnum``: a decimal counter."""
    return parse_int(text, 10, "uevent_seqnum")


def read_generation(root: Root) -> Reading[int]:
    """The uevent sequence number of a live root (ABSENT, DENIED or MALFORMED as read)."""
    return root.read_text(SEQNUM).map(parse_seqnum)


class Settled(NamedTuple, Generic[T]):
    """What :func:`read_settled` read: ``held`` True when the counter stood still during the last
    read, False when it moved every time, None when it could not be read; ``seqnums`` the
    counter before and after the last read (None where unread)."""

    value: T
    held: bool | None
    tries: int
    seqnums: tuple[int | None, int | None]


def read_settled(root: Root, read: Callable[[], T]) -> Settled[T]:
    """``read()`` again, from fresh readings (:meth:`Root.forget`), while the uevent counter
    moves during it, at most TRIES times."""
    for tries in range(1, TRIES + 1):
        root.forget()
        before = read_generation(root)
        value = read()
        if not before.ok:
            return Settled(value, None, tries, (None, None))
        after = read_generation(root)
        if after.ok and after.value == before.value:
            return Settled(value, True, tries, (before.value, after.value))
    return Settled(value, False, TRIES, (before.value, after.value))
