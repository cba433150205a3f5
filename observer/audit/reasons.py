"""The audit's stable reason codes, each with the sentence a user reads.

Codes never change meaning once released: scripts and fleet dashboards match on
them. A :class:`Reason` pairs a code with the detail of one case (which zone,
which reservation, which option would help). ``blocker`` reasons make a verdict
"not removable"; ``warning`` reasons leave it removable but say what may still
go wrong; ``unknown`` reasons mean the audit cannot tell.
"""
from __future__ import annotations

from typing import Any

from probes.records import frozen

BLOCKER, WARNING, UNKNOWN = "blocker", "warning", "unknown"

#: code -> (severity, sentence). Kernel rules named in the sentence are the ones the audit follows.
REASONS: dict[str, tuple[str, str]] = {
    "not-hotpluggable": (BLOCKER, "The firmware (ACPI SRAT) does not mark this memory hot-pluggable, "
                                  "so the platform cannot eject it."),
    "no-srat": (BLOCKER, "The firmware gives no SRAT (or NUMA is off), so no memory is known to be "
                         "hot-pluggable."),
    "kernel-zone": (BLOCKER, "It is in a kernel zone (DMA, DMA32 or Normal), where the kernel places "
                             "unmovable allocations; offlining it is not guaranteed."),
    "mixed-zones": (BLOCKER, "It spans several zones (valid_zones reads none); the kernel refuses to "
                             "offline such a block (mm/memory_hotplug.c offline_pages)."),
    "memory-hole": (BLOCKER, "Part of the block is not System RAM (a firmware hole or reserved range); "
                             "the kernel refuses to offline a block with holes (mm/memory_hotplug.c "
                             "offline_pages: \"memory holes\")."),
    "kernel-image": (BLOCKER, "It holds the kernel image (Kernel code/rodata/data/bss in /proc/iomem), "
                              "which can never be migrated."),
    "node-data": (BLOCKER, "It holds NODE_DATA (a node's pglist_data), allocated at boot and never "
                           "migrated."),
    "cma": (BLOCKER, "It holds a CMA area (cma=, hugetlb_cma=): its pageblocks are MIGRATE_CMA, which "
                     "memory offlining counts as unmovable, so the kernel refuses to offline it "
                     "(mm/page_isolation.c has_unmovable_pages, called by offline_pages)."),
    "reserved": (BLOCKER, "It holds an early boot reservation that is never freed (crashkernel, "
                          "firmware tables or another memblock reservation)."),
    "boot-allocations": (BLOCKER, "It lies at the top of its node, where the kernel allocated early boot "
                                  "memory top-down before the zones existed (the node's memmap, the log "
                                  "buffer, hash tables: mm/sparse.c sparse_buffer_init, memblock); it is "
                                  "never freed or migrated. The extent is estimated from the boot log."),
    "kernel-node": (BLOCKER, "It is on a node that held early boot reservations (the kernel image, "
                             "initrd or other memblock allocations made before SRAT was read); the kernel "
                             "clears the hot-pluggable mark of that whole node "
                             "(mm/numa_memblks.c numa_clear_kernel_node_hotplug)."),
    "hotadd-kernel-zone": (BLOCKER, "Memory hot-added here would be onlined to a kernel zone by the "
                                    "current online policy."),
    "hotadd-offline": (WARNING, "Memory hot-added here stays offline (auto_online_blocks is offline) "
                                "until something onlines it; online it as online_movable."),
    "absent": (BLOCKER, "No memory is present here, so there is nothing to remove."),
    "memoryless-node": (BLOCKER, "The node has no memory present."),
    "offline": (WARNING, "The block is offline: its memory is not in use and it can be removed, "
                         "but it is not serving the system either."),
    "partly-offline": (WARNING, "Some of its memory blocks are offline."),
    "memmap-on-memory": (WARNING, "Hot-added with memmap_on_memory: the first pages of the range hold "
                                  "its own struct pages, so it can only go as one piece with the memory "
                                  "that was added with it."),
    "movable-ratio": (WARNING, "ZONE_MOVABLE outgrows what the kernel zones can back: above the "
                               "MOVABLE:KERNEL ratio memory_hotplug.auto_movable_ratio expresses "
                               "(301% by default; virtio-mem's guidance), the kernel can run out of "
                               "memory for page tables and struct pages while Movable is still free."),
    "input-missing": (UNKNOWN, "An input the audit needs is missing or denied."),
    "no-zone-info": (UNKNOWN, "The zone of this memory is unknown (no valid_zones and no zoneinfo)."),
}


#: Codes about the platform's ability to eject memory, not the kernel's ability to offline it.
FIRMWARE_CODES = frozenset({"not-hotpluggable", "no-srat", "kernel-node"})


@frozen
class Reason:
    """One reason with its case detail (``detail`` may be empty)."""

    code: str
    detail: str = ""

    @property
    def severity(self) -> str:
        return REASONS[self.code][0]

    @property
    def sentence(self) -> str:
        return REASONS[self.code][1]

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.sentence, "detail": self.detail}


def verdict(reasons: list[Reason]) -> bool | None:
    """Removable: False if any blocker, None (cannot tell) if any unknown, else True."""
    if any(r.severity == BLOCKER for r in reasons):
        return False
    if any(r.severity == UNKNOWN for r in reasons):
        return None
    return True
