"""Small pure helpers shared by the sysfs/procfs parsers: strict integers and node lists."""
from __future__ import annotations

from probes.reading import ParseError


def parse_int(text: str, base: int, what: str) -> int:
    """One non-negative integer (surrounding whitespace allowed); ``base`` 0 accepts 0x.. hex."""
    s = text.strip()
    try:
        value = int(s, base)
    except ValueError:
        raise ParseError(f"{what}: {s[:40]!r} is not an integer") from None
    if value < 0 or s.startswith(("+", "-")) or "_" in s:
        raise ParseError(f"{what}: {s[:40]!r} is not a non-negative integer")
    return value


def parse_list(text: str, what: str) -> frozenset[int]:
    """A kernel list like ``0-2,4`` (``bitmap_parselist`` format; empty means none)."""
    s = text.strip()
    out: set[int] = set()
    if not s:
        return frozenset()
    for part in s.split(","):
        lo, sep, hi = part.partition("-")
        first = parse_int(lo, 10, what) if lo.strip() else -1
        last = parse_int(hi, 10, what) if sep else first
        if first < 0 or last < first or last - first > 1 << 20:
            raise ParseError(f"{what}: bad range {part[:40]!r}")
        out.update(range(first, last + 1))
    return frozenset(out)
