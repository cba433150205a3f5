"""The boot log's UEFI lines (drivers/firmware/efi/efi.c), parsed into events of
:mod:`probes.bootlog_events`; :mod:`probes.bootlog` registers :data:`HANDLERS`.

* ``efi: EFI v2.70 by EDK II``: efi_systab_report_header (efi_init, every UEFI boot).
* ``efi: mem07: [Boot Data   |   |...|WB|WT|WC|UC] range=[0x..-0x..] (0MB)``: the EFI memory
  map with ``efi=debug`` (efi_print_memmap; efi_md_typeattr_format names the type). Before
  4.x the range ended with ``)`` and was exclusive.
"""
from __future__ import annotations

import re
from typing import Callable

from probes import bootlog_events as ev
from probes.reading import ParseError


def _firmware(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    return ev.EfiFirmware(n, t, m.group(1), m.group(2))


def _memory(m: re.Match[str], n: int, t: int | None) -> ev.Event:
    start, end = int(m.group(3), 16), int(m.group(4), 16) + (1 if m.group(5) == "]" else 0)
    if end <= start:
        raise ParseError(f"line {n}: EFI range {m.group(3)}-{m.group(4)} ends before it starts")
    return ev.EfiMemory(n, t, int(m.group(1)), m.group(2).strip(), start, end)


#: (message keys, pattern, builder), as probes.bootlog's handlers are registered.
HANDLERS: tuple[tuple[str, str, Callable[[re.Match[str], int, "int | None"], ev.Event]], ...] = (
    ("efi", r"efi: EFI v(\S+) by (.+?)\s*$", _firmware),
    ("efi", r"efi: mem(\d+): \[([^|\]]+)\|[^\]]*\] range=\[(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)([\])])", _memory),
)
