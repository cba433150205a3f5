"""Shared output helpers: JSON, sizes and ranges as lsmem prints them."""
from __future__ import annotations

import json
import sys
from typing import Any

_UNITS = "KMGTPE"


def print_json(obj: Any) -> None:
    """Write ``obj`` as indented JSON to stdout."""
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def fmt_size(nbytes: int) -> str:
    """A size as lsmem prints it: ``640K``, ``1.5G``, ``128M``."""
    value, unit = float(nbytes), ""
    for u in _UNITS:
        if value < 1024:
            break
        value, unit = value / 1024, u
    if value < 1024 and unit == "" and nbytes < 1024:
        return f"{nbytes}B"
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text}{unit}"


def fmt_range(start: int, end: int) -> str:
    """``[start, end)`` as lsmem's inclusive ``0x...-0x...`` with 16 hex digits."""
    return f"0x{start:016x}-0x{end - 1:016x}"
