"""The model's pure inputs: what firmware, boot loader and command line gave the kernel.

Nothing here is read from the kernel's own zone outputs (zoneinfo, valid_zones,
per-node meminfo, the boot log's zone lines). Addresses are bytes, ``end`` is
exclusive; pfns are 4 KiB page numbers.
"""
from __future__ import annotations

from typing import NamedTuple

from probes.records import field, frozen

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

#: e820 types as the kernel prints them (arch/x86/kernel/e820.c e820_print_type).
E820_RAM = "usable"
E820_RESERVED = "reserved"


@frozen
class E820Entry:
    """One firmware memory-map range ``[start, end)`` with its printed type."""

    start: int
    end: int
    type: str


@frozen
class E820Op:
    """A change the kernel itself made to the map ('e820: update' / 'e820: remove' lines).

    ``new_type`` is None for a removal. ``old_type`` None means any type.
    """

    start: int
    end: int
    old_type: str | None
    new_type: str | None


@frozen
class SratMemoryRange:
    """An SRAT memory affinity entry in table order."""

    pxm: int
    start: int
    end: int
    enabled: bool = True
    hotpluggable: bool = False


@frozen
class SratInfo:
    """The SRAT as the kernel walks it: enabled CPU proximity domains, then memory entries."""

    cpu_pxms: tuple[int, ...] = ()
    memory: tuple[SratMemoryRange, ...] = ()


@frozen
class MemmapArg:
    """One applied memmap= item (probes.cmdline.MemmapEntry): ``action`` exactmap, add, limit,
    update or remove; e820 types as numbers (1 usable, 2 reserved, ...)."""

    action: str
    size: int = 0
    start: int = 0
    from_type: int = 0
    to_type: int = 0


@frozen
class Options:
    """The command-line options the model follows, resolved as the kernel resolves repeats.

    kernelcore/movablecore follow mm/mm_init.c cmdline_parse_core: ``*_pages`` and
    ``*_percent`` are the kernel's two variables (percent wins when set).
    """

    movable_node: bool = False
    kernelcore_pages: int = 0
    kernelcore_percent: int = 0
    kernelcore_mirror: bool = False
    movablecore_pages: int = 0
    movablecore_percent: int = 0
    mem_limit: int | None = None
    memmap: tuple[MemmapArg, ...] = ()
    numa_off: bool = False
    memhp_default_state: str | None = None
    online_policy: str | None = None
    auto_movable_ratio: int | None = None
    auto_movable_numa_aware: bool | None = None
    #: movablemem_map= (2013 proposal): "acpi", or ((start, size), ...); None when absent.
    movablemem_map: str | tuple[tuple[int, int], ...] | None = None


@frozen
class Reservation:
    """A memblock.reserved range present when SRAT hotplug marks are cleared."""

    start: int
    end: int
    what: str


class BlockInfo(NamedTuple):
    """A memory block sysfs lists (``memoryN``): its range, node link and online state (a named
    tuple: one per block). The model itself tells boot blocks from hot-added ones (blocks
    without boot RAM)."""

    index: int  # type: ignore[assignment]  # the block number (shadows tuple.index, never called)
    start: int
    end: int
    node: int | None
    online: bool


@frozen
class HotplugParams:
    """Runtime hotplug settings (sysfs auto_online_blocks, memory_hotplug module params)."""

    auto_online_blocks: str | None = None
    online_policy: str | None = None
    auto_movable_ratio: int | None = None
    auto_movable_numa_aware: bool | None = None
    block_size: int | None = None


@frozen
class ModelInputs:
    """Everything the model needs to replay one boot (and later hot-adds)."""

    release: str | None
    firmware_e820: tuple[E820Entry, ...]
    options: Options = field(default_factory=Options)
    #: the kernel's own map edits, applied after the command line (trim_bios_range etc.).
    kernel_e820_ops: tuple[E820Op, ...] = ()
    srat: SratInfo | None = None
    #: early memblock.reserved ranges at numa_clear_kernel_node_hotplug time that do not
    #: depend on the command line (kernel image, initrd, ...).
    reservations: tuple[Reservation, ...] = ()
    blocks: tuple[BlockInfo, ...] = ()
    hotplug: HotplugParams = field(default_factory=HotplugParams)
    #: what-if: hot-added blocks are onlined (or not) by the default online type of the new
    #: command line, not as they were seen.
    replay_onlining: bool = False
    #: what-if: blocks that were boot memory in the recorded boot; those the new line leaves
    #: without RAM (mem=, memmap=) do not exist in the new boot.
    recorded_boot_blocks: frozenset[int] = frozenset()
    #: the kernel's e820 edits after e820__memblock_setup (efi_mem_reserve): e820_table only.
    late_e820_ops: tuple[E820Op, ...] = ()
    #: what the fact gatherer had to assume (lowered claims), carried into the prediction.
    assumptions: tuple[str, ...] = ()
