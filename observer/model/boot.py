"""One boot replayed: firmware map -> memblock -> NUMA -> zones -> memory blocks."""
from __future__ import annotations

from typing import Callable

from observer.model import hotplug, memblock, numa, zones
from observer.model.inputs import PAGE_SHIFT, PAGE_SIZE, ModelInputs, Options, Reservation
from observer.model.movablemem_map import movable_limits
from observer.model.rules import ruleset_for
from observer.model.trace import Trace
from observer.model.zones import ArchZones, ZoneLayout
from probes.records import frozen, replace

LOW_1M = 1 << 20


@frozen
class Prediction:
    """What the model predicts for one boot."""

    release: str | None
    zones: tuple[ZoneLayout, ...]
    movable_start: dict[int, int]
    blocks: tuple[hotplug.BlockPrediction, ...]
    kernel_nodes: frozenset[int]
    trace: Trace
    #: The zone limits free_area_init prints as 'Zone ranges:' (None when not replayed).
    arch: ArchZones | None = None

    @property
    def assumptions(self) -> list[str]:
        return self.trace.assumptions

    def nonempty(self) -> list[ZoneLayout]:
        """Zones with pages spanned or present (the ones /proc/zoneinfo gives a start_pfn for)."""
        return [z for z in self.zones if z.spanned or z.present]


def options_of_release(opts: Options, trace: Trace) -> Options:
    """The options as the release's kernel understands them: ``movable_node`` has no zone rule
    before 3.14 and ``kernelcore=mirror`` is no option before 4.6 (rules.RuleSet)."""
    rules = trace.rules
    if opts.movable_node and not rules.movable_node_branch:
        trace.step("movable-node-absent", f"{rules.series[0]}.{rules.series[1]}: movable_node ignored for zones "
                   "(taken from source, not proven on a booted kernel)", memblock.Memblock())
        opts = replace(opts, movable_node=False)
    if opts.kernelcore_mirror and not rules.mirror_option:
        trace.step("mirror-absent", f"{rules.series[0]}.{rules.series[1]}: kernelcore=mirror is not an option "
                   "(taken from source, not proven on a booted kernel)", memblock.Memblock())
        opts = replace(opts, kernelcore_mirror=False)
    return opts


def early_reservations(inputs: ModelInputs, mb: memblock.Memblock, trace: Trace,
                       movable_node: bool) -> list[Reservation]:
    """memblock.reserved when numa_clear_kernel_node_hotplug runs: the recorded reservations,
    the first 1 MiB (arch/x86/kernel/setup.c early_reserve_memory, 5.13+), and the early
    memblock allocations (page tables, ACPI table upgrade copy, log buffer), which go
    bottom-up from low memory with movable_node (setup_arch: memblock_set_bottom_up)."""
    out = list(inputs.reservations)
    efi = [r for r in out if r.what.startswith("EFI Boot")]
    if efi:
        trace.step("efi-boot-services", f"{len(efi)} EFI boot-services ranges, "
                   f"{sum(r.end - r.start for r in efi) >> 20} MiB, memblock-reserved until efi_free_boot_services", mb)
    if trace.rules.reserve_low_1m:
        out.append(Reservation(0, LOW_1M, "first 1 MiB"))
    taken = sorted((r.start, r.end) for r in out)
    if movable_node:
        addr = None
        for r in mb.regions:
            cand = max(r.start, LOW_1M)
            for s, e in taken:
                if s <= cand < e:
                    cand = e
            if cand + PAGE_SIZE <= r.end:
                addr = cand
                break
        if addr is not None:
            out.append(Reservation(addr, addr + PAGE_SIZE, "early allocations (bottom-up)"))
            trace.step("early-alloc", f"movable_node: memblock allocates bottom-up, first at {addr:#x}", mb)
            trace.assume(f"movable_node: early memblock allocations simulated bottom-up from {addr:#x} "
                         "(first free RAM above 1 MiB), not copied from the recorded boot")
    else:
        trace.assume("without movable_node the early allocations go top-down; their node only "
                     "matters for hotplug marks, which act only with movable_node")
    return out


def predict(inputs: ModelInputs, zone_seen: Callable[[int], str | None] | None = None) -> Prediction:
    """Replay the boot described by ``inputs`` under the rules of its kernel release. ``zone_seen``
    is the checker's: the zone a block is seen in, for hot-added blocks onlined by hand."""
    rules, note = ruleset_for(inputs.release)
    trace = Trace(rules)
    if note:
        trace.assume(note)
    for a in inputs.assumptions:
        trace.assume(a)
    opts = options_of_release(inputs.options, trace)
    table = memblock.from_entries(inputs.firmware_e820)
    base = memblock.Memblock()
    trace.step("e820-memblock", f"firmware map: {len(table)} ranges", base)
    if opts.mem_limit is not None or opts.memmap:
        table = memblock.apply_cmdline(table, opts.mem_limit, opts.memmap)
        trace.step("e820-cmdline", "after mem=/memmap=: " + _ram_text(table), base)
    table = memblock.apply_ops(table, inputs.kernel_e820_ops)
    trace.step("e820-trim", "after the kernel's own e820 edits: " + _ram_text(table), base)
    max_pfn = memblock.end_of_ram_pfn(table)
    mb = memblock.memblock_from_e820(table)
    trace.step("e820-memblock", f"memblock.memory: {len(mb.regions)} regions", mb)
    if inputs.late_e820_ops:
        trace.step("e820-late", "e820 edits after e820__memblock_setup, memblock.memory unchanged: " + ", ".join(
            f"[mem {op.start:#x}-{op.end - 1:#x}] {op.old_type or 'any'} ==> {op.new_type or 'removed'}"
            for op in inputs.late_e820_ops), mb)
    trace.step("max-pfn", f"max_pfn = {max_pfn:#x}", mb)
    reserved = early_reservations(inputs, mb, trace, opts.movable_node)
    nodes = numa.build_nodes(mb, inputs.srat, opts.numa_off, max_pfn, reserved, trace)
    az = zones.arch_zones(mb, max_pfn, trace)
    limit = None
    if opts.movablemem_map is not None:
        limit = movable_limits(mb, az, opts.movablemem_map, nodes, list(inputs.reservations) + [
            r for r in reserved if r.what == "first 1 MiB"], trace)
    zmp = zones.find_zone_movable_pfns(
        mb, az, trace, movable_node=opts.movable_node,
        kernelcore_pages=opts.kernelcore_pages, kernelcore_percent=opts.kernelcore_percent,
        mirror=opts.kernelcore_mirror, movablecore_pages=opts.movablecore_pages,
        movablecore_percent=opts.movablecore_percent, movable_limit=limit)
    mirror_active = opts.kernelcore_mirror and limit is None and not opts.movable_node and bool(zmp)
    online = _online_nodes(mb, nodes, rules.node_min_size, trace)
    layout = zones.node_zones(mb, az, zmp, mirror_active, online)
    trace.step("zone-span", "; ".join(f"node {z.node} {z.zone} start {z.start_pfn:#x} spanned {z.spanned}"
                                      for z in layout if z.spanned), mb, zmp)
    trace.step("zone-present", "; ".join(f"node {z.node} {z.zone} present {z.present}"
                                         for z in layout if z.spanned), mb, zmp)
    live = hotplug.live_zones(layout, online)
    policy = hotplug.policy_from(inputs.hotplug, opts.memhp_default_state, opts.online_policy,
                                 opts.auto_movable_ratio, opts.auto_movable_numa_aware, opts.movable_node,
                                 trace, mb)
    blocks = (hotplug.predict_blocks(mb, live, inputs.blocks, policy, trace, inputs.replay_onlining,
                                     inputs.recorded_boot_blocks, zone_seen)
              if inputs.blocks else [])
    final = [zones.ZoneLayout(n, zones.ZONES[z], lz.start if lz.spanned else 0, lz.spanned, lz.present)
             for n in sorted(live) for z, lz in sorted(live[n].items())]
    return Prediction(inputs.release, tuple(final), zmp, tuple(blocks), frozenset(nodes.kernel_nodes), trace, az)


def _online_nodes(mb: memblock.Memblock, nodes: numa.NumaResult, min_size: int, trace: Trace) -> list[int]:
    """Nodes with memory that get NODE_DATA (alloc_node_data); before 6.7 a node spanning less
    than NODE_MIN_SIZE (4 MiB) is skipped."""
    out = []
    for nid in sorted({b.nid for b in nodes.blocks}):
        spans = [(b.start, b.end) for b in nodes.blocks if b.nid == nid]
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
        if min_size and end - start < min_size:
            trace.assume(f"node {nid} spans less than 4 MiB and is not onlined; its pages are not modelled")
            continue
        if mb.pfn_range_for_nid(nid) != (0, 0):
            out.append(nid)
    return out


def _ram_text(table: memblock.Table) -> str:
    ram = [(s, e) for s, e, t in table if t == memblock.RAM]
    return ", ".join(f"[mem {s:#x}-{e - 1:#x}]" for s, e in ram) + f" ({sum(e - s for s, e in ram) >> PAGE_SHIFT} pages)"
