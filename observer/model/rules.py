"""The kernel rules the model follows, keyed by release, each with the kernel function it cites.

A :class:`RuleSet` holds the version switches; :data:`RULES` names every rule and
where the kernel implements it (the path changes between releases: mm/page_alloc.c
up to 6.3, mm/mm_init.c from 6.4; arch/x86/mm/numa.c up to 6.11, mm/numa_memblks.c
from 6.12). Series verified against real captures: :data:`VERIFIED_SERIES`.
"""
from __future__ import annotations

import re

from probes.records import frozen

#: Series whose rules were checked against real kernels (recordings/).
VERIFIED_SERIES: tuple[tuple[int, int], ...] = ((5, 10), (6, 1), (6, 12), (7, 2))
MAX_ORDER_NR_PAGES = 1024  # 4 MiB on x86_64 in every release covered (include/linux/mmzone.h)


@frozen
class Rule:
    """One kernel rule: id, what it decides, and its source per release range."""

    id: str
    summary: str
    #: ((first series, path, function), ...) newest last.
    sources: tuple[tuple[tuple[int, int], str, str], ...]

    def cite(self, series: tuple[int, int]) -> str:
        """``path function`` for ``series`` (the newest source not newer than it)."""
        chosen = self.sources[0]
        for src in self.sources:
            if src[0] <= series:
                chosen = src
        return f"{chosen[1]} {chosen[2]}()"


def _r(rid: str, summary: str, *sources: tuple[tuple[int, int], str, str]) -> Rule:
    return Rule(rid, summary, tuple(sources))


_PA, _MI = "mm/page_alloc.c", "mm/mm_init.c"
_XN, _NM = "arch/x86/mm/numa.c", "mm/numa_memblks.c"

RULES: dict[str, Rule] = {r.id: r for r in (
    _r("e820-cmdline", "mem= and memmap= edit the e820 table before memblock is built",
       ((0, 0), "arch/x86/kernel/e820.c", "parse_memopt/parse_memmap_one")),
    _r("e820-trim", "the kernel reserves page 0 and removes the legacy BIOS area (0xa0000-0xfffff)",
       ((0, 0), "arch/x86/kernel/setup.c", "trim_bios_range")),
    _r("e820-memblock", "usable e820 ranges become memblock.memory; partial pages are dropped",
       ((0, 0), "arch/x86/kernel/e820.c", "memblock_x86_fill"), ((4, 12), "arch/x86/kernel/e820.c", "e820__memblock_setup")),
    _r("e820-late", "e820 edits after memblock is built (EFI reservations: BGRT, ESRT) leave memblock.memory as it was",
       ((0, 0), "arch/x86/platform/efi/quirks.c", "efi_arch_mem_reserve")),
    _r("efi-boot-services", "EFI boot-services code and data stay memblock-reserved after memblock is built, "
       "so their nodes are kernel nodes", ((0, 0), "arch/x86/platform/efi/quirks.c", "efi_reserve_boot_services")),
    _r("max-pfn", "max_pfn is the end of the highest usable e820 range",
       ((0, 0), "arch/x86/kernel/e820.c", "e820_end_of_ram_pfn"), ((4, 12), "arch/x86/kernel/e820.c", "e820__end_of_ram_pfn")),
    _r("srat-pxm", "proximity domains get node ids in order of first appearance, CPU entries first",
       ((0, 0), "drivers/acpi/numa/srat.c", "acpi_map_pxm_to_node")),
    _r("srat-memory", "enabled SRAT memory entries become numa_meminfo blocks; hot-pluggable ones mark memblock",
       ((0, 0), "drivers/acpi/numa/srat.c", "acpi_numa_memory_affinity_init")),
    _r("numa-dummy", "no SRAT (or numa=off, or a rejected SRAT): one node 0 over all memory",
       ((0, 0), _XN, "dummy_numa_init")),
    _r("numa-cleanup", "blocks without RAM move to numa_reserved_meminfo, others are clipped and merged",
       ((0, 0), _XN, "numa_cleanup_meminfo"), ((6, 12), _NM, "numa_cleanup_meminfo")),
    _r("numa-coverage", "NUMA is rejected when the nodes leave 1 MiB or more of RAM uncovered",
       ((0, 0), _XN, "numa_meminfo_cover_memory"), ((6, 12), "mm/memblock.c", "memblock_validate_numa_coverage")),
    _r("numa-set-node", "memblock.memory regions take the node of the numa_meminfo block covering them",
       ((0, 0), _XN, "numa_register_memblks"), ((6, 12), _NM, "numa_register_meminfo")),
    _r("kernel-node-hotplug", "every node holding a memblock.reserved range loses the hotplug mark on all its blocks",
       ((0, 0), _XN, "numa_clear_kernel_node_hotplug"), ((6, 12), _NM, "numa_clear_kernel_node_hotplug")),
    _r("early-alloc", "with movable_node memblock allocates bottom-up and skips hotplug regions",
       ((0, 0), "arch/x86/kernel/setup.c", "setup_arch (memblock_set_bottom_up)"),
       ((0, 0), "mm/memblock.c", "should_skip_region")),
    _r("zone-limits", "DMA ends at 16 MiB, DMA32 at 4 GiB, Normal at max_pfn; zones start at the first RAM pfn",
       ((0, 0), "arch/x86/mm/init.c", "zone_sizes_init"), ((0, 0), _PA, "free_area_init_nodes"),
       ((5, 8), _PA, "free_area_init"),
       ((6, 4), _MI, "free_area_init")),
    _r("movable-zone", "ZONE_MOVABLE is carved from the highest zone with a non-empty range",
       ((0, 0), _PA, "find_usable_zone_for_movable"), ((6, 4), _MI, "find_usable_zone_for_movable")),
    _r("movable-node", "movable_node: Movable starts at the lowest hot-pluggable pfn of each node",
       ((0, 0), _PA, "find_zone_movable_pfns_for_nodes"), ((6, 4), _MI, "find_zone_movable_pfns_for_nodes")),
    _r("kernelcore-mirror", "kernelcore=mirror: Movable starts at the lowest non-mirrored pfn above 4 GiB",
       ((0, 0), _PA, "find_zone_movable_pfns_for_nodes"), ((6, 4), _MI, "find_zone_movable_pfns_for_nodes")),
    _r("movable-node-absent", "before 3.14 movable_node has no zone rule: Movable comes from kernelcore=/movablecore= only",
       ((0, 0), _PA, "find_zone_movable_pfns_for_nodes (no movable_node branch before 3.14)")),
    _r("mirror-absent", "before 4.6 kernelcore=mirror is not an option: memparse gives 0, as if absent",
       ((0, 0), _PA, "cmdline_parse_kernelcore (no \"mirror\" before 4.6)")),
    _r("mirror-none", "kernelcore=mirror without mirrored memory is ignored (6.2+)",
       ((6, 2), _PA, "find_zone_movable_pfns_for_nodes"), ((6, 4), _MI, "find_zone_movable_pfns_for_nodes")),
    _r("kernelcore", "kernelcore=/movablecore=: kernel memory spread evenly over nodes, restart loop",
       ((0, 0), _PA, "find_zone_movable_pfns_for_nodes"), ((6, 4), _MI, "find_zone_movable_pfns_for_nodes")),
    _r("movable-align", "the Movable start is rounded up to MAX_ORDER_NR_PAGES; at or past the node end it is dropped",
       ((0, 0), _PA, "find_zone_movable_pfns_for_nodes"), ((6, 4), _MI, "find_zone_movable_pfns_for_nodes")),
    _r("zone-span", "zone spans per node, cut at the Movable start",
       ((0, 0), _PA, "zone_spanned_pages_in_node/adjust_zone_range_for_zone_movable"),
       ((6, 4), _MI, "zone_spanned_pages_in_node/adjust_zone_range_for_zone_movable")),
    _r("zone-present", "present = spanned minus the node's memblock holes",
       ((0, 0), _PA, "zone_absent_pages_in_node"), ((6, 4), _MI, "zone_absent_pages_in_node")),
    _r("hotadd-zone", "a hot-added block is onlined to the zone the online type and policy pick",
       ((0, 0), "mm/memory_hotplug.c", "zone_for_pfn_range")),
    _r("hotadd-auto-movable", "online_policy=auto-movable: Movable while the MOVABLE:KERNEL ratio allows",
       ((0, 0), "mm/memory_hotplug.c", "auto_movable_zone_for_pfn")),
    _r("online-policy-absent", "before 5.15 memory_hotplug.online_policy and auto_movable_* do not exist "
       "(no auto_movable_zone_for_pfn): the kernel ignores the words and onlines by the default zone rules "
       "(proven on Debian 5.10.262: recordings/5.10/auto_movable_ratio301)",
       ((0, 0), "mm/memory_hotplug.c", "zone_for_pfn_range")),
    _r("hotadd-span", "onlining grows the zone span to cover the block and adds its pages to present",
       ((0, 0), "mm/memory_hotplug.c", "move_pfn_range_to_zone/resize_zone_range")),
    _r("offline-boot", "an offlined boot block leaves present; at the zone's first or last pfn the span shrinks "
       "to the nearest pfn still online in the zone",
       ((0, 0), "mm/memory_hotplug.c", "offline_pages/adjust_present_page_count/shrink_zone_span")),
    _r("valid-zones", "valid_zones: the zone of an online block, or the zones an offline block may join",
       ((0, 0), "drivers/base/memory.c", "valid_zones_show")),
    _r("boot-block-zone", "a boot block's zone is the one populated zone whose span it intersects, else none",
       ((0, 0), "drivers/base/memory.c", "early_node_zone_for_memory_block")),
    _r("movablemem-map", "movablemem_map= (2013 proposal, never released): Movable from the given start to node end",
       ((0, 0), "arch/x86/mm/srat.c (3.9-rc, reverted)", "sanitize_zone_movable_limit")),
)}


@frozen
class RuleSet:
    """Version switches for one kernel series.

    Switches marked FROM SOURCE are read from the kernel source (or the dated patch) of the
    era and are not proven on a booted kernel: the lab boots 5.10, 6.1, 6.12 and 7.x only, and
    no real log in tests/data/reallogs boots an older kernel with the option concerned.
    """

    series: tuple[int, int]
    verified: bool
    #: mm/page_alloc.c find_zone_movable_pfns_for_nodes: the movable_node branch (lowest
    #: MEMBLOCK_HOTPLUG pfn per node, before kernelcore=/movablecore=) appeared in 3.14 (Tang Chen,
    #: "Make movable_node have higher priority", 529D423F.3030200@cn.fujitsu.com). Before it the
    #: kernel has no such zone rule. FROM SOURCE; vendor 3.10 kernels (RHEL 7) may carry a backport.
    movable_node_branch: bool
    #: cmdline_parse_kernelcore: "mirror" is known from 4.6 (Taku Izumi, 342332e6a925); before,
    #: memparse("mirror") gives 0 and kernelcore= is as if absent. FROM SOURCE.
    mirror_option: bool
    #: find_zone_movable_pfns_for_nodes: movablecore= clamped to totalpages and kernelcore >=
    #: totalpages -> no ZONE_MOVABLE (Xishi Qiu, "fix overflow in find_zone_movable_pfns_for_nodes"
    #: and "skip if required_kernelcore is larger than totalpages", 5615D311.5030908@huawei.com,
    #: Oct 2015 -> 4.4). 3.10's source has neither: totalpages - movablecore wraps (unsigned).
    #: FROM SOURCE.
    kernelcore_bounds: bool
    percent: bool             # kernelcore=nn% (4.17, a5c6d6509342); FROM SOURCE for 4.x
    mirror_needs_mirror: bool  # "no mirror memory, ignore kernelcore=mirror" (6.2)
    #: zone_movable_pfn >= node end -> 0: mainline 5.18 (ddbc84f3f595); Debian's 5.10.262 has it too
    #: (recordings/5.10/kernelcore_2g: node 0's start at its end is not printed). Stable backports
    #: to 5.15.y and 5.17.y (stable reviews of 5 Apr 2022) are assumed present, as the sublevel that
    #: brought them is not in a vendor release string; 5.11-5.14, 5.16 and older never had it (mainline
    #: history; 5.16.y and 5.4.y backports unverified). FROM SOURCE except 5.10.
    zmp_past_end_reset: bool
    cleanup_to_dram: bool     # numa_cleanup_meminfo clips to memblock DRAM bounds (6.12 numa_memblks)
    reserve_low_1m: bool      # setup_arch reserves the first 1 MiB (5.13)
    node_min_size: int        # bytes; nodes smaller are not onlined (dropped in 6.7)
    online_policy: bool       # memory_hotplug.online_policy / auto_movable_* exist (5.15, e83a437faa62)
    #: CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE of Debian's build (seen in captures: 6.1 offline, 6.12 online).
    default_online: str

    def cite(self, rule_id: str) -> str:
        """The kernel source of ``rule_id`` in this series."""
        return RULES[rule_id].cite(self.series)


def parse_series(release: str | None) -> tuple[int, int] | None:
    """(major, minor) of a kernel release string like ``6.1.0-28-amd64``; None if unreadable."""
    m = re.match(r"(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def ruleset_for(release: str | None) -> tuple[RuleSet, str | None]:
    """The rules for ``release`` and, when they are not verified for it, what was assumed."""
    series = parse_series(release)
    note = None
    if series is None:
        series = VERIFIED_SERIES[-1]
        note = (f"kernel release {release!r} unknown: assumed the {series[0]}.{series[1]} rules")
    elif series not in VERIFIED_SERIES:
        near = [s for s in VERIFIED_SERIES if s <= series] or [VERIFIED_SERIES[0]]
        note = (f"kernel {release}: rules verified only for "
                + ", ".join(f"{a}.{b}" for a, b in VERIFIED_SERIES)
                + f"; applied the version switches as of {series[0]}.{series[1]} "
                  f"(nearest verified: {near[-1][0]}.{near[-1][1]}; switches that differ from it "
                  f"are taken from kernel source, not proven on a booted kernel)")
    return RuleSet(
        series=series,
        verified=note is None,
        movable_node_branch=series >= (3, 14),
        mirror_option=series >= (4, 6),
        kernelcore_bounds=series >= (4, 4),
        percent=series >= (4, 17),
        mirror_needs_mirror=series >= (6, 2),
        # ddbc84f3f595 (5.18) went to the 5.10.y, 5.15.y and 5.17.y stable series: proven on Debian's
        # 5.10.262 (recordings/5.10/kernelcore_2g: no 'Node 0:' line); 5.15/5.17 from stable history.
        zmp_past_end_reset=series >= (5, 18) or series in ((5, 10), (5, 15), (5, 17)),
        cleanup_to_dram=series >= (6, 12),
        reserve_low_1m=series >= (5, 13),
        node_min_size=(4 << 20) if series < (6, 7) else 0,
        online_policy=series >= (5, 15),
        default_online="online" if series >= (6, 12) else "offline",
    ), note
