"""The typed events of the early-boot kernel log (one frozen dataclass per kind).

Every event carries ``line`` (1-based line number in the log) and ``usec`` (the
printk timestamp in microseconds, None for a line without one). Addresses are
ints in bytes and every range is ``[start, end)`` with END EXCLUSIVE: the kernel
prints inclusive ends (``[mem 0x00100000-0x7fffffff]``), the parser adds one.
Node ids are ints; ``-1`` is the kernel's NUMA_NO_NODE.
"""
from __future__ import annotations

from typing import ClassVar, TypeVar

from probes.records import frozen


@frozen
class Event:
    """Where an event sits in the log."""

    kind: ClassVar[str] = "event"
    line: int
    usec: int | None


@frozen
class KernelRelease(Event):
    """``Linux version 6.1.0-50-amd64 (...)``: the release and the whole banner."""

    kind: ClassVar[str] = "release"
    release: str
    banner: str


@frozen
class CommandLine(Event):
    """``Command line: ...`` (x86 setup_arch, ``early`` True) or ``Kernel command line: ...`` (start_kernel)."""

    kind: ClassVar[str] = "cmdline"
    text: str
    early: bool


@frozen
class E820Table(Event):
    """A table header: ``BIOS-provided physical RAM map:``, ``user-defined ...``, ``modified ...``.

    ``origin`` is the prefix of the entry lines that follow (``BIOS-e820``, ``user``,
    ``modified``, ``reserve setup_data``); arch/x86/kernel/e820.c e820__print_table.
    """

    kind: ClassVar[str] = "e820_table"
    origin: str


@frozen
class E820Entry(Event):
    """One e820 table line, e.g. ``BIOS-e820: [mem 0x0-0x9fbff] usable`` (``origin`` BIOS-e820)."""

    kind: ClassVar[str] = "e820"
    origin: str
    start: int
    end: int
    type: str


@frozen
class E820Change(Event):
    """``e820: update [mem ..] usable ==> reserved`` or ``e820: remove [mem ..] usable``.

    ``old_type`` is the type the change applies to ('' when the kernel printed none);
    ``new_type`` is None for a removal (arch/x86/kernel/e820.c __e820__range_update,
    e820__range_remove).
    """

    kind: ClassVar[str] = "e820_change"
    op: str
    start: int
    end: int
    old_type: str
    new_type: str | None


@frozen
class AcpiTable(Event):
    """``ACPI: SRAT 0x00000000BFFE2140 000150 (v01 BOCHS  BXPC     00000001 BXPC 00000001)``."""

    kind: ClassVar[str] = "acpi_table"
    signature: str
    address: int
    length: int
    revision: int
    oem_id: str
    oem_table_id: str
    oem_revision: int


@frozen
class AcpiTableUpgrade(Event):
    """``ACPI: Table Upgrade: override [SRAT-BOCHS -BXPC    ]`` (drivers/acpi/tables.c acpi_table_initrd_override)."""

    kind: ClassVar[str] = "acpi_upgrade"
    action: str
    signature: str
    oem_id: str
    oem_table_id: str


@frozen
class AcpiTableReserved(Event):
    """``ACPI: Reserving SRAT table memory at [mem 0x..-0x..]`` (drivers/acpi/tables.c acpi_table_init_complete)."""

    kind: ClassVar[str] = "acpi_reserved"
    signature: str
    start: int
    end: int


@frozen
class SratMemory(Event):
    """``ACPI: SRAT: Node 0 PXM 0 [mem 0x..-0x..] hotplug non-volatile`` (drivers/acpi/numa/srat.c
    acpi_numa_memory_affinity_init): an enabled memory affinity the kernel accepted."""

    kind: ClassVar[str] = "srat_memory"
    node: int
    pxm: int
    start: int
    end: int
    hotplug: bool
    non_volatile: bool


@frozen
class SratCpu(Event):
    """``SRAT: PXM 0 -> APIC 0x00 -> Node 0`` (or ``X2APIC``; arch/x86/mm/srat.c)."""

    kind: ClassVar[str] = "srat_cpu"
    pxm: int
    apic_id: int
    node: int
    x2apic: bool


@frozen
class NumaMerge(Event):
    """``NUMA: Node 0 [mem a-b] + [mem c-d] -> [mem e-f]``: two blocks of a node merged
    (numa_cleanup_meminfo in arch/x86/mm/numa.c, mm/numa_memblks.c since 6.12)."""

    kind: ClassVar[str] = "numa_merge"
    node: int
    first: tuple[int, int]
    second: tuple[int, int]
    result: tuple[int, int]


@frozen
class NumaNote(Event):
    """A NUMA setup outcome without a range: ``what`` is ``distance_table`` (``count`` entries),
    ``no_config`` (No NUMA configuration found), ``off`` (NUMA turned off) or ``memoryless``
    (``count`` is the node: 'Initmem setup node N as memoryless')."""

    kind: ClassVar[str] = "numa_note"
    what: str
    count: int | None = None


@frozen
class NumaCoverageRejected(Event):
    """``NUMA: nodes only cover 5119MB of your 6143MB e820 RAM. Not used.``: the SRAT's nodes
    miss too much RAM and the kernel drops them (numa_meminfo_cover_memory, arch/x86/mm/numa.c;
    mm/numa_memblks.c since 6.12). Sizes in bytes, as the kernel rounded them to MiB."""

    kind: ClassVar[str] = "numa_coverage_rejected"
    covered: int
    e820_ram: int


@frozen
class FakeNode(Event):
    """``Faking a node at [mem ..]`` (dummy_numa_init, ``node`` None) or ``Faking node N at [mem ..]`` (numa=fake)."""

    kind: ClassVar[str] = "fake_node"
    node: int | None
    start: int
    end: int


@frozen
class NodeData(Event):
    """``NODE_DATA(n) allocated [mem ..]`` (alloc_node_data)."""

    kind: ClassVar[str] = "node_data"
    node: int
    start: int
    end: int


@frozen
class NodeDataElsewhere(Event):
    """``NODE_DATA(n) on node m``: node n's pglist_data landed on another node."""

    kind: ClassVar[str] = "node_data_elsewhere"
    node: int
    on_node: int


@frozen
class Ramdisk(Event):
    """``RAMDISK: [mem ..]``: the initrd's reserved place (arch/x86/kernel/setup.c early_reserve_initrd)."""

    kind: ClassVar[str] = "ramdisk"
    start: int
    end: int


@frozen
class Crashkernel(Event):
    """A crashkernel reservation.

    6.1 prints ``Reserving 256MB of memory at 2800MB for crashkernel (System RAM: 6079MB)``
    (arch/x86/kernel/setup.c reserve_crashkernel); 6.12 prints ``crashkernel reserved:
    0x.. - 0x.. (256 MB)`` with an exclusive end, ``low`` for ``crashkernel low memory reserved``
    (kernel/crash_reserve.c reserve_crashkernel_generic).
    """

    kind: ClassVar[str] = "crashkernel"
    start: int
    end: int
    low: bool


@frozen
class CmaReserved(Event):
    """``cma: Reserved 256 MiB at 0x0000000140000000`` (6.1) or ``... on node -1`` (6.12; -1 is
    NUMA_NO_NODE, ``node`` None on 6.1): a CMA area (``cma=``, ``hugetlb_cma=``) that
    mm/cma.c cma_declare_contiguous_nid reserved. Its size is a whole number of MiB (the
    kernel aligns it to at least a pageblock), so ``end`` is exact."""

    kind: ClassVar[str] = "cma"
    start: int
    end: int
    node: int | None


@frozen
class MemblockRange(Event):
    """A memblock=debug call on a range: ``memblock_reserve: [0x..-0x..] setup_arch+0x797/0xd4f``.

    ``func`` is the memblock function (memblock_add, memblock_add_node, memblock_reserve,
    memblock_remove, memblock_phys_free, memblock_free, memblock_free_late, ...), ``caller``
    the symbol+offset it printed; ``node``/``flags`` only where the kernel printed them
    (memblock_add_node: ``nid=0 flags=0``), else None.
    """

    kind: ClassVar[str] = "memblock_range"
    func: str
    start: int
    end: int
    caller: str
    node: int | None = None
    flags: int | None = None


@frozen
class MemblockAlloc(Event):
    """A memblock=debug allocation request: ``memblock_alloc_try_nid: 8192 bytes align=0x40 nid=0
    from=0x0 max_addr=0x0 caller``. ``node`` is None for functions that print no nid
    (memblock_phys_alloc_range); where it lands is the memblock_reserve that follows."""

    kind: ClassVar[str] = "memblock_alloc"
    func: str
    size: int
    align: int
    node: int | None
    min_addr: int
    max_addr: int
    caller: str


@frozen
class MemblockRegion(Event):
    """One region of a ``MEMBLOCK configuration:`` dump (mm/memblock.c memblock_dump):
    `` memory[0x4]\t[0x..-0x..], 0x.. bytes on node 2 flags: 0x1``; ``table`` is ``memory``
    or ``reserved`` (or ``physmem``), ``node`` None when not printed, ``flags`` the MEMBLOCK_*
    bits (0x1 HOTPLUG, 0x2 MIRROR, 0x4 NOMAP, ...)."""

    kind: ClassVar[str] = "memblock_region"
    table: str
    index: int
    start: int
    end: int
    node: int | None
    flags: int


@frozen
class ZoneRange(Event):
    """A ``Zone ranges:`` line (mm/mm_init.c free_area_init): ``start``/``end`` None when ``empty``."""

    kind: ClassVar[str] = "zone_range"
    zone: str
    start: int | None
    end: int | None


@frozen
class MovableZoneStart(Event):
    """A ``Movable zone start for each node`` line: ``  Node 1: 0x0000000140000000`` (an address)."""

    kind: ClassVar[str] = "movable_start"
    node: int
    start: int


@frozen
class EarlyNodeRange(Event):
    """An ``Early memory node ranges`` line: ``  node   0: [mem 0x..-0x..]``."""

    kind: ClassVar[str] = "early_node_range"
    node: int
    start: int
    end: int


@frozen
class InitmemSetup(Event):
    """``Initmem setup node N [mem 0x..-0x..]`` (free_area_init_node)."""

    kind: ClassVar[str] = "initmem_setup"
    node: int
    start: int
    end: int


@frozen
class UnavailablePages(Event):
    """``On node 0, zone DMA: 97 pages in unavailable ranges`` (init_unavailable_range)."""

    kind: ClassVar[str] = "unavailable"
    node: int
    zone: str
    pages: int


@frozen
class NodeTotalPages(Event):
    """``On node 0 totalpages: 4104502``: the node's present pages (calculate_node_totalpages,
    KERN_DEBUG; seen in logs of 3.10 to 5.11, absent from linux-next of June 2021 and 5.15 on)."""

    kind: ClassVar[str] = "node_totalpages"
    node: int
    pages: int


@frozen
class ZonePages(Event):
    """A zone line under ``On node N totalpages`` (free_area_init_core, KERN_DEBUG): ``what`` is
    'present' for ``  DMA zone: 3997 pages, LIFO batch:0`` (zone_pcp_init: the zone's present
    pages) or 'memmap' for ``  Normal zone: 4096 pages used for memmap``; ``node`` is the node of
    the line above, as the zone lines name none."""

    kind: ClassVar[str] = "zone_pages"
    node: int
    zone: str
    pages: int
    what: str


@frozen
class MemAutoInit(Event):
    """``mem auto-init: stack:all(zero), heap alloc:on, heap free:off``: the raw settings."""

    kind: ClassVar[str] = "mem_auto_init"
    settings: str


@frozen
class MemoryTotals(Event):
    """``Memory: 1451652K/6290936K available (... 241360K reserved, 0K cma-reserved)`` in bytes."""

    kind: ClassVar[str] = "memory_totals"
    available: int
    total: int
    reserved: int | None


@frozen
class LastPfn(Event):
    """``last_pfn = 0x1c0000 max_arch_pfn = 0x10000000000`` (e820__end_of_ram_pfn)."""

    kind: ClassVar[str] = "last_pfn"
    pfn: int
    max_arch_pfn: int


@frozen
class EarlyAllocation(Event):
    """A boot-time memblock allocation the log sizes but does not place: ``printk: log_buf_len:
    N bytes`` (kernel/printk/printk.c setup_log_buf) or ``Dentry cache``/``Inode-cache hash table
    entries: .. (order: k, N bytes, linear)`` (mm/mm_init.c alloc_large_system_hash with
    HASH_EARLY; ``memblock`` False when the table was vmalloc'ed later instead)."""

    kind: ClassVar[str] = "early_allocation"
    what: str
    size: int
    memblock: bool


@frozen
class EfiFirmware(Event):
    """``efi: EFI v2.70 by EDK II`` (drivers/firmware/efi/efi.c efi_systab_report_header, from
    efi_init in setup_arch): the kernel booted through UEFI. No such line on a BIOS boot."""

    kind: ClassVar[str] = "efi_firmware"
    version: str
    vendor: str


@frozen
class EfiMemory(Event):
    """One EFI memory descriptor as ``efi=debug`` prints it (efi_print_memmap): its index, type
    name (``Boot Code``, ``Boot Data``, ``Conventional``, ``Runtime Data``, ``ACPI Mem NVS``, ...)
    and ``[start, end)``."""

    kind: ClassVar[str] = "efi_memory"
    index: int
    type: str
    start: int
    end: int


#: Events that reserve memory early; the model's inputs next to memblock=debug calls.
RESERVATIONS = (Ramdisk, Crashkernel, AcpiTableReserved, NodeData)


E = TypeVar("E", bound=Event)


@frozen
class BootLog:
    """The events of one boot log, in log order.

    ``complete`` is False when the log does not reach back to the kernel's first
    lines (the ring buffer rotated, or the file was cut): ``incomplete_reason`` says why.
    """

    events: tuple[Event, ...]
    complete: bool
    incomplete_reason: str = ""

    def of(self, cls: type[E]) -> list[E]:
        """The events of one class, in log order."""
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def release(self) -> str | None:
        """The kernel release from ``Linux version``."""
        found = self.of(KernelRelease)
        return found[0].release if found else None

    @property
    def command_line(self) -> str | None:
        """The command line as setup_arch printed it (else start_kernel's ``Kernel command line``)."""
        found = sorted(self.of(CommandLine), key=lambda c: not c.early)
        return found[0].text if found else None

    @property
    def e820_map(self) -> list[E820Entry]:
        """The firmware's map: ``BIOS-e820`` lines, or the ``extended`` table that follows them when
        the boot loader passed more entries than boot_params holds (the EFI stub's setup_e820 puts
        the rest in SETUP_E820_EXT setup_data; arch/x86/kernel/e820.c e820__memory_setup_extended
        appends them and prints the whole table)."""
        extended = [e for e in self.of(E820Entry) if e.origin == "extended"]
        return extended or [e for e in self.of(E820Entry) if e.origin == "BIOS-e820"]

    @property
    def user_map(self) -> list[E820Entry]:
        """The last ``user-defined physical RAM map`` (mem=, memmap=), empty when none was printed."""
        return self._last_table("user")

    def _last_table(self, origin: str) -> list[E820Entry]:
        out: list[E820Entry] = []
        for e in self.events:
            if isinstance(e, E820Table) and e.origin == origin:
                out = []
            elif isinstance(e, E820Entry) and e.origin == origin:
                out.append(e)
        return out

    @property
    def srat_ranges(self) -> list[SratMemory]:
        return self.of(SratMemory)

    @property
    def zone_ranges(self) -> list[ZoneRange]:
        return self.of(ZoneRange)

    @property
    def movable_zone_start(self) -> dict[int, int]:
        """Node -> the address its movable zone starts at (only nodes the kernel listed)."""
        return {e.node: e.start for e in self.of(MovableZoneStart)}

    @property
    def early_node_ranges(self) -> list[EarlyNodeRange]:
        return self.of(EarlyNodeRange)

    @property
    def node_data(self) -> dict[int, NodeData]:
        """Node -> where its NODE_DATA was allocated."""
        return {e.node: e for e in self.of(NodeData)}

    @property
    def reservations(self) -> list[Event]:
        """Early reservations the log names: RAMDISK, crashkernel, ACPI tables, NODE_DATA."""
        return [e for e in self.events if isinstance(e, RESERVATIONS)]

    @property
    def memblock_calls(self) -> list[Event]:
        """memblock=debug calls (ranges and allocation requests), empty without memblock=debug."""
        return [e for e in self.events if isinstance(e, (MemblockRange, MemblockAlloc))]
