"""Whether the machine changed while movcheck read it: the kernel's uevent sequence number.

Every change of a memory block (add, online, offline, remove) sends a uevent
(drivers/base/memory.c: device_online/device_offline and device add/del go through
kobject_uevent), and every uevent increments ``uevent_seqnum`` (lib/kobject_uevent.c),
which ``/sys/kernel/uevent_seqnum`` shows to everyone. Equal numbers before and after a
read mean no block changed during it; other devices' uevents count too, so a change
means "maybe", never "surely not".
"""
from __future__ import annotations

from probes.reading import Reading
from probes.root import Root
from probes.sysfs import parse_int

SEQNUM = "sys/kernel/uevent_seqnum"
#: How many times a reading of a live machine is made before it is given up as unsettled.
TRIES = 3


def parse_seqnum(text: str) -> int:
    """``uevent_seqnum``: a decimal counter."""
    return parse_int(text, 10, "uevent_seqnum")


def read_generation(root: Root) -> Reading[int]:
    """The uevent sequence number of a live root (ABSENT, DENIED or MALFORMED as read)."""
    return root.read_text(SEQNUM).map(parse_seqnum)
