"""Gather the model's pure inputs from the probes through a Root.

Never read here: zoneinfo, valid_zones, per-node meminfo, has_normal_memory or the
boot log's zone lines; :func:`gather` gives the same inputs when they are absent.
"""
from __future__ import annotations

from observer.model import memblock
from observer.model.inputs import (BlockInfo, E820Entry, E820Op, HotplugParams, MemmapArg, ModelInputs,
                                   Options, Reservation, SratInfo, SratMemoryRange)
from probes import bootlog_events as ev
from probes.bootlog import BootLog, read_boot_log
from probes.cmdline import CommandLine, parse_cmdline, read_cmdline
from probes.records import frozen, replace
from probes.hotplug_params import read_hotplug_params
from probes.iomem import read_iomem
from probes.kernel import read_release
from probes.memmap import FirmwareMapEntry, read_memmap
from probes.memory_blocks import MemoryBlocks, read_memory_blocks
from probes.reading import Reading, Status
from probes.root import Root
from probes.srat import Srat, read_srat

KERNEL_PARTS = ("Kernel code", "Kernel rodata", "Kernel data", "Kernel bss")
#: trim_bios_range (arch/x86/kernel/setup.c), used when the boot log's own edits are unknown.
DEFAULT_KERNEL_OPS = (E820Op(0, 0x1000, "usable", "reserved"), E820Op(0xA0000, 0x100000, "usable", None))
DEFAULT_KERNEL_BASE = 0x1000000  # CONFIG_PHYSICAL_START without KASLR


@frozen
class Facts:
    """The model's inputs, the recorded command line, and what could not be read."""

    inputs: ModelInputs
    cmdline: CommandLine | None
    bootlog: BootLog | None
    missing: tuple[str, ...]   # inputs the prediction needed but could not read (claim lowered)

    @property
    def cannot_predict(self) -> str:
        """Why the model cannot predict this boot for a check ("" when it can)."""
        return "; ".join(self.missing) or ("" if self.inputs.firmware_e820 else "no firmware memory map")


def _block_infos(mb: MemoryBlocks) -> tuple[BlockInfo, ...] | None:
    """The model's view of each block (range, node, online), None when a block shows neither
    ``state`` nor ``online``."""
    bs, out = mb.block_size, []
    for b in mb.blocks:
        online = b.state == "online" if b.state else b.online
        if online is None:
            return None
        out.append(BlockInfo(b.number, b.number * bs, (b.number + 1) * bs, b.node, online))
    return tuple(out)


def options_from(cl: CommandLine) -> Options:
    """The model's options from a parsed command line."""
    mm = cl.movablemem_map
    mmap: str | tuple[tuple[int, int], ...] | None = "acpi" if mm.acpi else (mm.ranges or None)
    return Options(
        movable_node=cl.movable_node,
        kernelcore_pages=cl.kernelcore.pages, kernelcore_percent=cl.kernelcore.percent,
        kernelcore_mirror=cl.kernelcore.mirror,
        movablecore_pages=cl.movablecore.pages, movablecore_percent=cl.movablecore.percent,
        mem_limit=cl.mem_limit,
        memmap=tuple(MemmapArg(m.action, m.size, m.start, m.from_type, m.to_type)
                     for m in cl.memmap if m.applied and m.action != "invalid"),
        numa_off=cl.numa.off,
        memhp_default_state=cl.memhp_default_state,
        online_policy=cl.memory_hotplug.online_policy,
        auto_movable_ratio=cl.memory_hotplug.auto_movable_ratio,
        auto_movable_numa_aware=cl.memory_hotplug.auto_movable_numa_aware,
        movablemem_map=mmap,
    )


def srat_info(srat: Srat) -> SratInfo:
    """The SRAT as acpi_numa_init walks it on x86 (enabled CPU entries, then memory entries)."""
    return SratInfo(tuple(p.proximity_domain for p in srat.processors if p.enabled),
                    tuple(SratMemoryRange(m.proximity_domain, m.base, m.end, m.enabled, m.hotpluggable)
                          for m in srat.memory))


def srat_from_log(log: BootLog) -> SratInfo:
    """A substitute SRAT from the log's 'SRAT: PXM -> APIC' and 'SRAT: Node N PXM P' lines."""
    return SratInfo(tuple(c.pxm for c in log.of(ev.SratCpu)),
                    tuple(SratMemoryRange(m.pxm, m.start, m.end, True, m.hotplug) for m in log.of(ev.SratMemory)))


#: Events printed only after e820__memblock_setup (reserve_initrd, the ACPI table walk, SRAT,
#: zone sizing): the boundary when the log has no ``last_pfn`` line.
_AFTER_MEMBLOCK = (ev.Ramdisk, ev.AcpiTableUpgrade, ev.AcpiTable, ev.SratCpu, ev.SratMemory, ev.ZoneRange)


def memblock_setup_index(log: BootLog) -> int:
    """Where arch/x86/kernel/setup.c setup_arch calls e820__memblock_setup, as an index into the
    log's events: right after its last ``last_pfn`` line (e820__end_of_ram_pfn, then
    e820__end_of_low_ram_pfn: only find_smp_config, early_alloc_pgt_buf and reserve_brk lie
    between, none of which edits e820), else before the first event printed after it."""
    events = log.events
    last = [i for i, e in enumerate(events) if isinstance(e, ev.LastPfn)]
    if last:
        return last[-1] + 1
    return next((i for i, e in enumerate(events) if isinstance(e, _AFTER_MEMBLOCK)), len(events))


def _e820_ops(log: BootLog, notes: list[str]) -> tuple[tuple[E820Op, ...], tuple[E820Op, ...]]:
    """The kernel's own e820 edits, split at e820__memblock_setup: (those memblock.memory is built
    from, those made later). The first part starts after the user-defined map (mem=/memmap= edits
    come before it). Later edits (efi_mem_reserve -> arch/x86/platform/efi/quirks.c
    efi_arch_mem_reserve for the BGRT image or ESRT, which memblock_reserve()s the range) change
    e820_table only: present pages keep them. The ``e820: update`` lines are KERN_DEBUG: a log
    without any is taken to have lost them, and trim_bios_range's edits are assumed."""
    events = list(log.events)
    if not any(isinstance(e, ev.E820Change) for e in events):
        notes.append("boot log has no 'e820: update/remove' lines (KERN_DEBUG not captured): the kernel's "
                     "own e820 edits assumed (page 0 reserved, 0xa0000-0xfffff removed: trim_bios_range)")
        return DEFAULT_KERNEL_OPS, ()
    user = [i for i, e in enumerate(events) if isinstance(e, ev.E820Table) and e.origin == "user"]
    first, setup = (user[-1] if user else 0), memblock_setup_index(log)

    def ops(part: list[ev.Event]) -> tuple[E820Op, ...]:
        return tuple(E820Op(e.start, e.end, e.old_type or None, e.new_type)
                     for e in part if isinstance(e, ev.E820Change))
    return ops(events[first:setup]), ops(events[max(first, setup):])


def gather(root: Root, cmdline: str | None = None,
           memory_blocks: Reading[MemoryBlocks] | None = None) -> Facts:
    """Read every input through ``root``; ``cmdline`` replaces the recorded command line.

    ``memory_blocks`` is the memory-block reading when the caller already has it (with at least
    ``state``; ``online`` is read here when a block has no ``state``)."""
    missing: list[str] = []
    notes: list[str] = []
    log_r = root.once(read_boot_log)
    log = log_r.value if log_r.ok else None
    if log_r.status is Status.MALFORMED:
        missing.append(f"boot log ({log_r.describe()})")
    if log is not None and not log.complete:
        notes.append(f"boot log incomplete ({log.incomplete_reason}): early lines may be missing")
    rel_r = root.once(read_release)
    release = rel_r.value.raw if rel_r.ok else (log.release if log else None)  # type: ignore[union-attr]
    if release is None:
        missing.append("kernel release (proc/sys/kernel/osrelease)")

    recorded_r = root.once(read_cmdline)
    recorded = recorded_r.value if recorded_r.ok else (
        parse_cmdline(log.command_line) if log and log.command_line else None)
    used = parse_cmdline(cmdline) if cmdline is not None else recorded
    if used is None:
        missing.append("command line (proc/cmdline)")

    firmware: tuple[E820Entry, ...] = ()
    ops, late_ops = DEFAULT_KERNEL_OPS, ()
    if log is not None and log.e820_map:
        firmware = tuple(E820Entry(e.start, e.end, e.type) for e in log.e820_map)
        ops, late_ops = _e820_ops(log, notes)  # type: ignore[assignment]
    else:
        mm_r = root.once(read_memmap)
        if mm_r.ok and mm_r.value:
            boot = _boot_entries(mm_r.value)
            firmware = tuple(E820Entry(e.start, e.end + 1, _memmap_type(e.type)) for e in boot)
            notes.append("firmware map from sys/firmware/memmap (entries after its sorted boot part taken as "
                         "hot-added); the kernel's own e820 edits assumed (page 0 reserved, 0xa0000-0xfffff "
                         "removed: trim_bios_range)")
        else:
            missing.append("firmware memory map (boot log BIOS-e820 lines or sys/firmware/memmap)")

    srat: SratInfo | None = None
    srat_r = root.once(read_srat)
    if srat_r.ok:
        srat = srat_info(srat_r.value)  # type: ignore[arg-type]
    elif log is not None and log.of(ev.SratMemory):
        srat = srat_from_log(log)
        notes.append(f"SRAT not readable ({srat_r.describe()}): rebuilt from the boot log's SRAT lines")
    elif srat_r.status is not Status.ABSENT or log is None:
        missing.append(f"SRAT ({srat_r.describe()})" + ("" if log else f" and no boot log ({log_r.describe()})"))

    reservations = list(_kernel_image(root, log, notes))
    if log is not None:
        reservations += [Reservation(r.start, r.end, "initrd") for r in log.of(ev.Ramdisk)]
        reservations += [Reservation(r.start, r.end, f"ACPI {r.signature}") for r in log.of(ev.AcpiTableReserved)]
        reservations += efi_boot_services(log, notes if used is not None and used.movable_node else [])
    elif used is not None and srat is not None and any(m.hotpluggable for m in srat.memory) and (
            used.movable_node or used.movablemem_map.acpi):
        missing.append("boot log (var/log/dmesg): the initrd's place decides which hot-pluggable "
                       "nodes keep their mark")
    else:
        notes.append("no boot log: initrd and ACPI table reservations unknown")

    blocks: tuple[BlockInfo, ...] | None = ()
    bs = None
    mb_r = memory_blocks if memory_blocks is not None else read_memory_blocks(root, ("state",))
    if mb_r.ok:
        blocks = _block_infos(mb_r.value)  # type: ignore[arg-type]
        if blocks is None:  # a block without ``state`` (never on a live kernel): its ``online`` says
            mb_r = read_memory_blocks(root, ("state", "online"))
            blocks = _block_infos(mb_r.value) if mb_r.ok else ()  # type: ignore[arg-type]
        bs = mb_r.value.block_size if mb_r.ok else None  # type: ignore[union-attr]
    hp_r = root.once(read_hotplug_params)
    hp = HotplugParams(block_size=bs)
    if hp_r.ok:
        # sysfs shows the recorded boot's values; those its command line set are not the
        # kernel's defaults, so only the others are kept (a what-if line brings its own).
        v, rec = hp_r.value, recorded
        hpo = rec.memory_hotplug if rec else None
        hp = HotplugParams(None if rec and rec.memhp_default_state else v.auto_online_blocks,  # type: ignore[union-attr]
                           None if hpo and hpo.online_policy else v.online_policy,  # type: ignore[union-attr]
                           None if hpo and hpo.auto_movable_ratio is not None else v.auto_movable_ratio,  # type: ignore[union-attr]
                           None if hpo and hpo.auto_movable_numa_aware is not None else v.auto_movable_numa_aware,  # type: ignore[union-attr]
                           bs)
    options = options_from(recorded) if recorded is not None else Options()
    inputs = ModelInputs(release, firmware, options, ops, srat, tuple(reservations), blocks, hp,  # type: ignore[arg-type]
                         late_e820_ops=late_ops, assumptions=tuple(notes))
    if cmdline is not None:
        inputs = what_if(inputs, options_from(parse_cmdline(cmdline)))
    return Facts(inputs, recorded, log, tuple(missing))


#: EFI memory types arch/x86/platform/efi/quirks.c efi_reserve_boot_services memblock_reserve()s.
EFI_BOOT_SERVICES = ("Boot Code", "Boot Data")


def efi_boot_services(log: BootLog, notes: list[str]) -> list[Reservation]:
    """EFI boot-services code and data: RAM in e820 (the stub's setup_e820 makes them
    E820_TYPE_RAM), memblock_reserve()d by efi_reserve_boot_services right after
    e820__memblock_setup and held until efi_free_boot_services, so they count in
    numa_clear_kernel_node_hotplug (which acts with movable_node: ``notes`` gets the assumption when
    the places are unknown). Their places are in the log only with ``efi=debug``."""
    early = log.events[:memblock_setup_index(log)]  # efi_init's map; efi=debug prints it again later
    found = [Reservation(m.start, m.end, f"EFI {m.type}") for m in early
             if isinstance(m, ev.EfiMemory) and m.type in EFI_BOOT_SERVICES]
    if log.of(ev.EfiFirmware) and not log.of(ev.EfiMemory):
        notes.append("UEFI boot: EFI boot-services memory is reserved until late (efi_reserve_boot_services) "
                     "but its place is logged only with efi=debug; assumed to lie in nodes that hold other "
                     "early reservations (OVMF: beside the initrd at the top of low RAM)")
    return found


def _kernel_image(root: Root, log: BootLog | None, notes: list[str]) -> list[Reservation]:
    """The kernel image from /proc/iomem (Kernel code .. Kernel bss), else memblock=debug's first
    reserve from setup_arch, else the default load address (assumed)."""
    io_r = root.once(read_iomem)
    if io_r.ok and not io_r.value.hidden:  # type: ignore[union-attr]
        parts = [r for r in io_r.value.walk() if r.name in KERNEL_PARTS]  # type: ignore[union-attr]
        if parts:
            return [Reservation(min(p.start for p in parts), max(p.end for p in parts) + 1, "kernel image")]
    if log is not None:
        calls = [c for c in log.of(ev.MemblockRange) if c.func == "memblock_reserve"
                 and "early_reserve_memory" in c.caller]
        if calls:
            return [Reservation(calls[0].start, calls[0].end, "kernel image")]
    notes.append(f"kernel image position unknown: assumed at {DEFAULT_KERNEL_BASE:#x} (no KASLR)")
    return [Reservation(DEFAULT_KERNEL_BASE, DEFAULT_KERNEL_BASE + (32 << 20), "kernel image (assumed)")]


def _boot_entries(entries: tuple[FirmwareMapEntry, ...]) -> tuple[FirmwareMapEntry, ...]:
    """The boot part of sys/firmware/memmap: firmware_map_add_early() entries come first in
    address order (the sanitized e820 table); firmware_map_add_hotplug() appends hot-added
    System RAM after them, so the map is cut where the address order breaks."""
    out: list[FirmwareMapEntry] = []
    for e in entries:
        if out and e.start < out[-1].start:
            break
        out.append(e)
    return tuple(out)


def _memmap_type(name: str) -> str:
    """sys/firmware/memmap type names -> the e820 names the boot log prints."""
    return {"System RAM": "usable", "Reserved": "reserved", "ACPI Tables": "ACPI data",
            "ACPI Non-volatile Storage": "ACPI NVS", "Unusable memory": "unusable",
            "Persistent Memory (legacy)": "persistent (type 12)", "Persistent Memory": "persistent (type 7)",
            "Soft Reserved": "soft reserved"}.get(name, "reserved")



def with_cmdline(facts: Facts, text: str) -> Facts:
    """The same machine booted with another command line (what-if): options and hot-add
    onlining follow the new line."""
    return replace(facts, inputs=what_if(facts.inputs, options_from(parse_cmdline(text))))


def what_if(recorded: ModelInputs, options: Options) -> ModelInputs:
    """``recorded`` booted with ``options``: hot-add onlining is replayed, and the blocks that
    were boot memory under the recorded options are marked (arch/x86/kernel/e820.c edits)."""
    table = memblock.apply_ops(memblock.apply_cmdline(memblock.from_entries(recorded.firmware_e820),
                                                      recorded.options.mem_limit, recorded.options.memmap),
                               recorded.kernel_e820_ops)
    ram = memblock.memblock_from_e820(table)
    boot = frozenset(b.index for b in recorded.blocks if ram.overlaps(b.start, b.end))
    return replace(recorded, options=options, replay_onlining=True, recorded_boot_blocks=boot)
