"""``/proc/iomem``: the physical address map as a tree of named ranges.

Printed by ``r_show`` (kernel/resource.c): two spaces of indent per nesting level,
``start-end : name`` in hex, ``end`` inclusive, addresses in bytes. Without
CAP_SYS_ADMIN the kernel prints every address as 0 (``iomem_is_exclusive``/``r_show``
hide them); :func:`read_iomem` reports that as DENIED.
"""
from __future__ import annotations

import re
from typing import Iterator

from probes.records import frozen
from probes.reading import ParseError, Reading, Status
from probes.root import Root

IOMEM_PATH = "proc/iomem"
_LINE = re.compile(r"( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)")


@frozen
class IomemRange:
    """``[start, end]`` (inclusive, bytes) named ``name``, with the ranges nested inside it."""

    start: int
    end: int
    name: str
    depth: int
    children: tuple["IomemRange", ...] = ()

    @property
    def size(self) -> int:
        return self.end - self.start + 1


@frozen
class Iomem:
    """The top-level ranges; ``hidden`` when every address reads 0 (not root)."""

    ranges: tuple[IomemRange, ...]
    hidden: bool

    def walk(self) -> Iterator[IomemRange]:
        """Every range, depth first in file order."""
        stack = list(reversed(self.ranges))
        while stack:
            r = stack.pop()
            yield r
            stack.extend(reversed(r.children))

    def named(self, name: str) -> tuple[IomemRange, ...]:
        """Every range called exactly ``name`` (e.g. ``System RAM``, ``Kernel code``)."""
        return tuple(r for r in self.walk() if r.name == name)


def parse_iomem(text: str) -> Iomem:
    """Decode /proc/iomem; raises ParseError on a bad line or an indent that skips a level."""
    # Each open level: (start, end, name, depth, children-list).
    stack: list[tuple[int, int, str, int, list[IomemRange]]] = []
    top: list[IomemRange] = []

    def close_to(depth: int) -> None:
        while len(stack) > depth:
            start, end, name, d, kids = stack.pop()
            node = IomemRange(start, end, name, d, tuple(kids))
            (stack[-1][4] if stack else top).append(node)

    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.fullmatch(line)
        if not m:
            raise ParseError(f"line {lineno}: {line[:60]!r} is not 'start-end : name'")
        indent, lo, hi, name = m.groups()
        if len(indent) % 2 or len(indent) // 2 > len(stack):
            raise ParseError(f"line {lineno}: indent of {len(indent)} spaces skips a nesting level")
        depth = len(indent) // 2
        start, end = int(lo, 16), int(hi, 16)
        if end < start:
            raise ParseError(f"line {lineno}: range ends before it starts")
        close_to(depth)
        stack.append((start, end, name, depth, []))
    close_to(0)
    if not top:
        raise ParseError("no ranges")
    all_zero = all(r.start == 0 and r.end == 0 for r in Iomem(tuple(top), False).walk())
    return Iomem(tuple(top), all_zero)


def read_iomem(root: Root) -> Reading[Iomem]:
    """The address map from ``proc/iomem``; DENIED when the kernel hid the addresses."""
    reading = root.read_text(IOMEM_PATH).map(parse_iomem)
    if reading.ok and reading.value is not None and reading.value.hidden:
        return Reading(reading.source, Status.DENIED, None, "addresses hidden without root (all ranges read 0-0)")
    return reading
