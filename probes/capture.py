"""What a snapshot holds: every path movcheck's commands read, relative to the root.

``movcheck snapshot`` and the lab's guest capture both copy exactly these paths, so
a snapshot replays every command (and ``lsmem --sysroot`` reads it too). Patterns use
``*`` for one path component; entries ending in ``@`` are symlinks kept as links.
"""
from __future__ import annotations

BOOT_LOG = "var/log/dmesg"

#: Plain files (copied when present).
FILES: tuple[str, ...] = (
    "proc/cmdline",
    "proc/zoneinfo",
    "proc/iomem",
    "proc/meminfo",
    "proc/sys/kernel/osrelease",
    "sys/firmware/acpi/tables/SRAT",
    "sys/devices/system/memory/block_size_bytes",
    "sys/devices/system/memory/auto_online_blocks",
    "sys/devices/system/node/online",
    "sys/devices/system/node/possible",
    "sys/devices/system/node/has_memory",
    "sys/devices/system/node/has_normal_memory",
    "sys/devices/system/node/has_cpu",
)

#: Files found by pattern; ``@`` marks a symlink to keep as a link.
PATTERNS: tuple[str, ...] = (
    "sys/firmware/memmap/*/start",
    "sys/firmware/memmap/*/end",
    "sys/firmware/memmap/*/type",
    "sys/devices/system/memory/memory*/phys_index",
    "sys/devices/system/memory/memory*/state",
    "sys/devices/system/memory/memory*/valid_zones",
    "sys/devices/system/memory/memory*/removable",
    "sys/devices/system/memory/memory*/phys_device",
    "sys/devices/system/memory/memory*/node*@",
    "sys/devices/system/node/node*/cpulist",
    "sys/devices/system/node/node*/meminfo",
    "sys/module/memory_hotplug/parameters/*",
    # present only on a UEFI boot (drivers/firmware/efi/efi.c efisubsys_init): the firmware kind
    "sys/firmware/efi/fw_platform_size",
)
