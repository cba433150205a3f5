"""``/sys/firmware/memmap``: the firmware's (e820) memory map as the kernel received it.

One directory per entry, ``N/{start,end,type}`` (drivers/firmware/memmap.c): start and end
in bytes as ``0x..`` hex, ``end`` inclusive; type strings from arch/x86/kernel/e820.c
``e820_type_to_string`` (``System RAM``, ``Reserved``, ``ACPI Tables``, ...). Entries
hot-added later are appended. Unlike /proc/iomem it is readable without root.
"""
from __future__ import annotations

from typing import Mapping

from probes.records import frozen
from probes.reading import ParseError, Reading, Status
from probes.root import Root
from probes.sysfs import parse_int

MEMMAP_DIR = "sys/firmware/memmap"


@frozen
class FirmwareMapEntry:
    """Entry ``index``: ``[start, end]`` bytes, inclusive, of ``type``."""

    index: int
    start: int
    end: int
    type: str

    @property
    def size(self) -> int:
        return self.end - self.start + 1


def parse_memmap(entries: Mapping[str, Mapping[str, str]]) -> tuple[FirmwareMapEntry, ...]:
    """Entries from ``{"0": {"start": "0x0\\n", "end": ..., "type": ...}, ...}``, by index."""
    out = []
    for name, files in entries.items():
        index = parse_int(name, 10, f"memmap entry {name[:20]!r}")
        missing = {"start", "end", "type"} - set(files)
        if missing:
            raise ParseError(f"memmap/{name}: no {', '.join(sorted(missing))}")
        start = parse_int(files["start"], 16, f"memmap/{name}/start")
        end = parse_int(files["end"], 16, f"memmap/{name}/end")
        kind = files["type"].strip()
        if end < start or not kind:
            raise ParseError(f"memmap/{name}: end before start or empty type")
        out.append(FirmwareMapEntry(index, start, end, kind))
    return tuple(sorted(out, key=lambda e: e.index))


def read_memmap(root: Root) -> Reading[tuple[FirmwareMapEntry, ...]]:
    """The firmware map from ``sys/firmware/memmap``."""
    listing = root.listdir(MEMMAP_DIR)
    if not listing.ok:
        return Reading(listing.source, listing.status, None, listing.problem)
    entries: dict[str, dict[str, str]] = {}
    for name in listing.value or []:
        files = {}
        for f in ("start", "end", "type"):
            r = root.read_text(f"{MEMMAP_DIR}/{name}/{f}")
            if r.status is not Status.ABSENT and not r.ok:
                return Reading(r.source, r.status, None, r.problem)
            if r.ok:
                files[f] = r.value or ""
        entries[name] = files
    return Reading(MEMMAP_DIR, Status.OK, entries).map(parse_memmap)
