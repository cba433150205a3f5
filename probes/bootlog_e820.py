"""e820 type names as the boot log prints them, in every kernel era's spelling (pure)."""
from __future__ import annotations

import re

from probes.reading import ParseError

#: e820 type names as arch/x86/kernel/e820.c e820_print_type() prints them, in every era's
#: spelling, -> the classic (up to 6.x) spelling the model reads. 7.x renamed them
#: (seen on Debian's 7.2.13: "System RAM", "device reserved") and added '[gap ...]' lines.
E820_TYPE_SPELLINGS = {
    "usable": "usable", "System RAM": "usable",
    "reserved": "reserved", "device reserved": "reserved",
    "ACPI data": "ACPI data", "ACPI NVS": "ACPI NVS", "unusable": "unusable",
    "soft reserved": "soft reserved",
}
_E820_NUMBERED = re.compile(r"(?:persistent (?:RAM )?\(type (\d+)\)|type (\d+))")


def e820_type_name(text: str, lineno: int) -> str:
    """A printed e820 type in its classic spelling; ParseError (with the line) for an unknown one."""
    name = text.strip()
    if name in E820_TYPE_SPELLINGS:
        return E820_TYPE_SPELLINGS[name]
    if m := _E820_NUMBERED.fullmatch(name):
        number = int(m.group(1) or m.group(2))
        return f"persistent (type {number})" if number in (7, 12) else f"type {number}"
    raise ParseError(f"line {lineno}: unknown e820 type {name!r}")
