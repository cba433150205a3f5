"""``/proc/zoneinfo``: per node and zone, where the zone starts and how many pages it holds.

Printed by ``zoneinfo_show_print`` (mm/vmstat.c). Every count is in pages (4 KiB on
x86_64) and ``start_pfn`` is a page frame number. ``start_pfn`` is printed only for
populated zones, so an empty zone has ``start_pfn`` None.
"""
from __future__ import annotations

import re

from probes.records import frozen
from probes.reading import ParseError, Reading
from probes.root import Root
from probes.sysfs import parse_int

ZONEINFO_PATH = "proc/zoneinfo"
_HEADER = re.compile(r"Node\s+(\d+),\s+zone\s+(\S+)\s*$")
_FIELDS = {"pages free": "free", "spanned": "spanned", "present": "present", "managed": "managed",
           "start_pfn:": "start_pfn"}


@frozen
class Zone:
    """One zone of one node; page counts, ``start_pfn`` a PFN (None when not printed)."""

    node: int
    name: str
    start_pfn: int | None
    spanned: int
    present: int
    managed: int | None
    free: int | None
    protection: tuple[int, ...]

    @property
    def end_pfn(self) -> int | None:
        """One past the last spanned PFN (None when the start is not printed)."""
        return None if self.start_pfn is None else self.start_pfn + self.spanned


@frozen
class ZoneInfo:
    """All zones in file order (node by node, zone index order within a node)."""

    zones: tuple[Zone, ...]

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted({z.node for z in self.zones}))

    def zone(self, node: int, name: str) -> Zone | None:
        """The zone ``name`` of ``node``, or None."""
        return next((z for z in self.zones if z.node == node and z.name == name), None)


def parse_zoneinfo(text: str) -> ZoneInfo:
    """Decode /proc/zoneinfo; raises ParseError when a zone lacks spanned or present."""
    zones: list[Zone] = []
    current: dict[str, object] | None = None

    def finish() -> None:
        if current is None:
            return
        missing = [k for k in ("spanned", "present") if k not in current]
        if missing:
            raise ParseError(f"node {current['node']} zone {current['name']}: no {', '.join(missing)}")
        zones.append(Zone(current["node"], current["name"], current.get("start_pfn"),  # type: ignore[arg-type]
                          current["spanned"], current["present"], current.get("managed"),  # type: ignore[arg-type]
                          current.get("free"), current.get("protection", ())))  # type: ignore[arg-type]

    for lineno, line in enumerate(text.splitlines(), 1):
        head = _HEADER.match(line)
        if head:
            finish()
            current = {"node": int(head.group(1)), "name": head.group(2)}
            continue
        if current is None:
            if line.strip():
                raise ParseError(f"line {lineno}: {line[:40]!r} before the first 'Node N, zone' header")
            continue
        stripped = line.strip()
        if stripped.startswith("protection:"):
            inner = stripped[len("protection:"):].strip()
            if not (inner.startswith("(") and inner.endswith(")")):
                raise ParseError(f"line {lineno}: bad protection {inner[:40]!r}")
            current["protection"] = tuple(parse_int(v, 10, f"line {lineno} protection")
                                          for v in inner[1:-1].split(",") if v.strip())
            continue
        for key, field in _FIELDS.items():
            if stripped.startswith(key) and (len(stripped) == len(key) or stripped[len(key)].isspace()):
                current[field] = parse_int(stripped[len(key):], 10, f"line {lineno} {key.rstrip(':')}")
                break
    finish()
    if not zones:
        raise ParseError("no 'Node N, zone' sections")
    return ZoneInfo(tuple(zones))


def read_zoneinfo(root: Root) -> Reading[ZoneInfo]:
    """Zones from ``proc/zoneinfo``."""
    return root.read_text(ZONEINFO_PATH).map(parse_zoneinfo)
