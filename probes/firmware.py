"""Which firmware booted the machine: UEFI or a legacy BIOS, from the machine's own facts.

``sys/firmware/efi`` exists only after a UEFI boot (drivers/firmware/efi/efi.c efisubsys_init
registers it when EFI_BOOT is set); the boot log's ``efi: EFI v2.70 by EDK II`` line
(efi_systab_report_header, called by efi_init in setup_arch) names the UEFI revision and vendor.
A whole boot log without that line is a BIOS boot.
"""
from __future__ import annotations

from typing import Any

from probes import bootlog_events as ev
from probes.bootlog import BootLog, read_boot_log
from probes.records import frozen
from probes.reading import Reading, Status
from probes.root import Root

EFI_DIR = "sys/firmware/efi"
EFI_PLATFORM_SIZE = "sys/firmware/efi/fw_platform_size"


@frozen
class Firmware:
    """``kind`` ``uefi`` or ``bios``; revision and vendor when the boot log names them; ``evidence``
    says what decided it."""

    kind: str
    evidence: str
    version: str | None = None
    vendor: str | None = None

    def describe(self) -> str:
        """``UEFI 2.70 (EDK II)`` or ``BIOS``."""
        if self.kind == "bios":
            return "BIOS"
        return " ".join(filter(None, ["UEFI", self.version, f"({self.vendor})" if self.vendor else None]))

    def to_json(self) -> dict[str, Any]:
        """``{"kind", "evidence", "version", "vendor"}`` as ``show`` and ``audit`` print it."""
        return {"kind": self.kind, "evidence": self.evidence, "version": self.version, "vendor": self.vendor}


def describe_json(data: dict[str, Any] | None) -> str:
    """:meth:`Firmware.describe` of a :meth:`Firmware.to_json` form; ``?`` for None (not told)."""
    return Firmware(**data).describe() if data else "?"


def firmware_from(efi_dir: bool, log: BootLog | None) -> Firmware | None:
    """The firmware from the facts: ``efi_dir`` (sys/firmware/efi exists) and the boot log; None
    when neither decides (no efi directory in an older snapshot and no whole boot log)."""
    lines = log.of(ev.EfiFirmware) if log is not None else []
    if lines:
        return Firmware("uefi", "boot log: 'efi: EFI v' line", lines[0].version, lines[0].vendor)
    if efi_dir:
        return Firmware("uefi", EFI_DIR)
    if log is not None and log.complete and log.e820_map:
        return Firmware("bios", "boot log: whole, no 'efi: EFI v' line")
    return None


def read_firmware(root: Root) -> Reading[Firmware]:
    """The firmware of the machine under ``root`` (a boot log that cannot be read is left out)."""
    log_r = root.once(read_boot_log)
    found = firmware_from(root.exists(EFI_PLATFORM_SIZE) or root.is_dir(EFI_DIR), log_r.value if log_r.ok else None)
    if found is None:
        return Reading(EFI_DIR, Status.ABSENT, None, "no sys/firmware/efi and no whole boot log to tell")
    return Reading(EFI_DIR, Status.OK, found)
