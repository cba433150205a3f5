"""Synthetic snapshots of big x86_64 machines, self-consistent across every file movcheck reads.

One :class:`Layout` decides everything: the e820 map (with the usual 3-4 GiB PCI hole),
NUMA nodes of contiguous 128 MiB memory blocks, which nodes the SRAT marks hot-pluggable
(booted with ``movable_node``, so they are all ZONE_MOVABLE), an empty hot-plug window
after the last node, a few offlined blocks, the kernel image on node 0 and each node's
NODE_DATA. :func:`write_snapshot` writes the files as the kernel prints them
(mm/vmstat.c zoneinfo_show_print, drivers/base/memory.c, drivers/base/node.c,
drivers/firmware/memmap.c, kernel/resource.c r_show, the boot log's e820/SRAT/NUMA/zone
lines) and :func:`cached_snapshot` keeps one per layout under the cache directory.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cached_property

from probes.srat import (MEM_ENABLED, MEM_HOTPLUGGABLE, AcpiHeader, MemoryAffinity, ProcessorAffinity, Srat,
                         encode_srat)

CACHE_DIR = os.environ.get("MOVCHECK_BENCH_CACHE", "/var/tmp/movcheck-bench")
#: Bump when the generated files change, so stale caches are rebuilt.
FORMAT = 4
RELEASE = "6.12.95+deb12-amd64"
PAGE = 4096
GiB = 1 << 30
HOLE = (0xC000_0000, 1 << 32)   # no RAM between 3 GiB and 4 GiB (PCI)
LOW_RAM_END = 0xBFFE_0000       # e820 usable ends here below the hole
DMA_END, DMA32_END = 1 << 24, 1 << 32
NODE_DATA_SIZE = 0x2A980        # sizeof(pg_data_t) on 6.12 (a real NODE_DATA line's size)
KERNEL_IMAGE = ((0x0100_0000, 0x01FF_FFFF, "Kernel code"), (0x0220_0000, 0x02BF_FFFF, "Kernel rodata"),
                (0x02C0_0000, 0x02FF_FFFF, "Kernel data"), (0x0340_0000, 0x036F_FFFF, "Kernel bss"))
RAMDISK = (0xBE00_0000, 0xBFDF_FFFF)  # inclusive, like the log prints it
E820_LOW = ((0x0, 0x9FBFF, "usable"), (0x9FC00, 0x9FFFF, "reserved"), (0xF0000, 0xFFFFF, "reserved"),
            (0x100000, LOW_RAM_END - 1, "usable"), (LOW_RAM_END, 0xBFFFFFFF, "reserved"),
            (0xFFFC0000, 0xFFFFFFFF, "reserved"))
MEMMAP_TYPES = {"usable": "System RAM", "reserved": "Reserved"}
OFFLINE_BLOCKS = 4  # the last blocks of the last node, offlined by an admin


@dataclass(frozen=True)
class Layout:
    """``blocks`` present memory blocks of ``block_size`` on ``nodes`` nodes; nodes from
    ``nodes - hotplug_nodes`` on are hot-pluggable."""

    blocks: int
    nodes: int = 4
    hotplug_nodes: int = 2
    block_size: int = 128 << 20

    def __post_init__(self) -> None:
        if self.blocks // self.nodes <= self.low_blocks or not 0 < self.hotplug_nodes < self.nodes:
            raise ValueError(f"{self}: node 0 must reach above 4 GiB, and some nodes (not all) be hot-pluggable")

    @property
    def name(self) -> str:
        return f"v{FORMAT}-{self.blocks}b-{self.nodes}n-{self.hotplug_nodes}h-{self.block_size >> 20}m"

    @property
    def low_blocks(self) -> int:
        """Blocks below the PCI hole."""
        return HOLE[0] // self.block_size

    @cached_property
    def numbers(self) -> tuple[int, ...]:
        """Present block numbers: below the hole, then from 4 GiB on."""
        skip = (HOLE[1] - HOLE[0]) // self.block_size
        return tuple(range(self.low_blocks)) + tuple(range(self.low_blocks + skip, self.blocks + skip))

    @cached_property
    def node_blocks(self) -> tuple[tuple[int, int], ...]:
        """Per node, ``(first, last)`` block numbers (inclusive), in equal shares of the present blocks."""
        share, out = self.blocks // self.nodes, []
        for n in range(self.nodes):
            lo = n * share
            hi = self.blocks - 1 if n == self.nodes - 1 else (n + 1) * share - 1
            out.append((self.numbers[lo], self.numbers[hi]))
        return tuple(out)

    def hotpluggable(self, node: int) -> bool:
        return node >= self.nodes - self.hotplug_nodes

    def node_span(self, node: int) -> tuple[int, int]:
        """``[start, end)`` bytes of the node's blocks."""
        first, last = self.node_blocks[node]
        return first * self.block_size, (last + 1) * self.block_size

    @property
    def ram_end(self) -> int:
        return (self.numbers[-1] + 1) * self.block_size

    @property
    def window(self) -> tuple[int, int]:
        """An empty hot-plug window of the last node, after all RAM (where a DIMM could be added)."""
        return self.ram_end, self.ram_end + 8 * self.block_size

    def node_of(self, number: int) -> int:
        return next(n for n, (lo, hi) in enumerate(self.node_blocks) if lo <= number <= hi)

    @cached_property
    def offline(self) -> frozenset[int]:
        return frozenset(self.numbers[-OFFLINE_BLOCKS:])

    @property
    def e820(self) -> list[tuple[int, int, str]]:
        """The firmware map, inclusive ends."""
        return [*E820_LOW, (HOLE[1], self.ram_end - 1, "usable")]

    @property
    def cmdline(self) -> str:
        return f"BOOT_IMAGE=/boot/vmlinuz-{RELEASE} root=/dev/sda1 ro console=ttyS0 nokaslr movable_node"

    # --- what the kernel made of it ---------------------------------------------------------

    def srat_ranges(self) -> list[tuple[int, int, int, bool]]:
        """(node, start, end, hotplug) of every SRAT memory entry, as QEMU's build_srat lays them out."""
        out = []
        for n in range(self.nodes):
            start, end = self.node_span(n)
            if n == 0:
                out += [(0, 0, 0xA0000, False), (0, 0x100000, HOLE[0], False)]
                start = HOLE[1]
            out.append((n, start, end, self.hotpluggable(n)))
        out.append((self.nodes - 1, *self.window, True))
        return out

    def srat(self) -> bytes:
        header = AcpiHeader("SRAT", 0, 1, 0, "BOCHS ", "BXPC    ", 1, "BXPC", 1)
        cpus = tuple(ProcessorAffinity(n, n, True) for n in range(self.nodes))
        mem = tuple(MemoryAffinity(n, s, e - s, MEM_ENABLED | (MEM_HOTPLUGGABLE if hp else 0))
                    for n, s, e, hp in self.srat_ranges())
        return encode_srat(Srat(header, 1, mem, cpus))

    def node_data(self, node: int) -> tuple[int, int, int]:
        """(start, end exclusive, on node): NODE_DATA sits at the top of its node's memory, or, for a
        hot-pluggable node under movable_node, below the last kernel node's own (memblock skips
        hot-pluggable memory: mm/memblock.c memblock_find_in_range_node)."""
        home = node if not self.hotpluggable(node) else self.nodes - self.hotplug_nodes - 1
        top = self.node_span(home)[1]
        below = 0 if node == home else 1 + node - (self.nodes - self.hotplug_nodes)
        end = top - below * NODE_DATA_SIZE
        return end - NODE_DATA_SIZE, end, home

    def zones(self, node: int) -> list[tuple[str, int, int, int]]:
        """(zone, start_pfn, spanned, present) of every zone of ``node`` (0 spans when empty)."""
        start, end = self.node_span(node)
        spp = self.block_size // PAGE
        offline = sum(1 for b in self.offline if self.node_of(b) == node) * spp
        empty = ("DMA", 0, 0, 0), ("DMA32", 0, 0, 0), ("Normal", 0, 0, 0), ("Movable", 0, 0, 0)
        zones = {z[0]: z for z in empty}
        if node == 0:
            zones["DMA"] = ("DMA", 1, DMA_END // PAGE - 1, (0x9F000 - 0x1000 + 0xF00000) // PAGE)
            zones["DMA32"] = ("DMA32", DMA_END // PAGE, (DMA32_END - DMA_END) // PAGE,
                              (LOW_RAM_END - DMA_END) // PAGE)
            start = HOLE[1]
        pages = (end - start) // PAGE
        name = "Movable" if self.hotpluggable(node) else "Normal"
        zones[name] = (name, *self._shrunk(start // PAGE, end // PAGE), pages - offline)
        return [*zones.values(), ("Device", 0, 0, 0)]

    def _shrunk(self, start: int, end: int) -> tuple[int, int]:
        """(start_pfn, spanned) of the zone ``[start, end)`` (whole blocks) once its offlined blocks
        are out: offline_pages -> shrink_zone_span (mm/memory_hotplug.c) moves an edge whose block
        goes offline to the nearest online block; (0, 0) when none is left."""
        spp = self.block_size // PAGE
        online = [b for b in self.numbers if start <= b * spp < end and b not in self.offline]
        first = start if start // spp not in self.offline else min(online, default=0) * spp
        last = end if (end - 1) // spp not in self.offline else (max(online, default=-1) + 1) * spp
        return (first, last - first) if online else (0, 0)

    def block_zone(self, number: int) -> str:
        """valid_zones of a block: its zone when online, else the zones it could be onlined to."""
        if number in self.offline:
            return "Movable Normal"
        if number == 0:
            return "none"  # spans DMA and DMA32
        if number * self.block_size < DMA32_END:
            return "DMA32"
        return "Movable" if self.hotpluggable(self.node_of(number)) else "Normal"


# --- writing ----------------------------------------------------------------------------------

def _put(root: str, rel: str, text: str | bytes) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)


def _range_list(nodes: list[int]) -> str:
    return ",".join(str(n) for n in nodes) if len(nodes) < 2 or nodes != list(range(nodes[0], nodes[-1] + 1)) \
        else f"{nodes[0]}-{nodes[-1]}"


def zoneinfo_text(lay: Layout) -> str:
    out = []
    for node in range(lay.nodes):
        zones = lay.zones(node)
        for i, (name, start_pfn, spanned, present) in enumerate(zones):
            out.append(f"Node {node}, zone {name:>8}")
            if i == 0:
                out += ["  per-node stats", "      nr_inactive_anon 4868", "      nr_active_anon 389"]
            free = present * 9 // 10
            out += [f"  pages free     {free}", "        boost    0", "        min      42", "        low      52",
                    "        high     62", "        promo    72", f"        spanned  {spanned}",
                    f"        present  {present}", f"        managed  {present - present // 64}", "        cma      0",
                    "        protection: (0, 3018, 5962, 5962, 5962)"]
            if present:
                out += [f"      nr_free_pages {free}", "  pagesets", "    cpu: 0", "              count:    0",
                        "              high:     0", "              batch:    1", "  vm stats threshold: 24",
                        "  node_unreclaimable:  0", f"  start_pfn:           {start_pfn}"]
    return "\n".join(out) + "\n"


def iomem_text(lay: Layout) -> str:
    lines = []
    for start, end, kind in lay.e820:
        lines.append(f"{start:08x}-{end:08x} : {'System RAM' if kind == 'usable' else 'Reserved'}")
        if start == 0x100000:
            lines += [f"  {s:08x}-{e:08x} : {name}" for s, e, name in KERNEL_IMAGE]
        if start == 0xF0000:
            lines.append(f"  {start:08x}-{end:08x} : System ROM")
        if start == LOW_RAM_END:
            lines.append("c0000000-febfffff : PCI Bus 0000:00")
    return "\n".join(lines) + "\n"


def boot_log(lay: Layout) -> str:
    """A dmesg-format boot log with the lines the kernel prints for this layout."""
    msgs = [f"Linux version {RELEASE} (debian-kernel@lists.debian.org) (gcc 12.2.0) #1 SMP PREEMPT_DYNAMIC",
            f"Command line: {lay.cmdline}", "BIOS-provided physical RAM map:"]
    msgs += [f"BIOS-e820: [mem {s:#018x}-{e:#018x}] {k}" for s, e, k in lay.e820]
    msgs += ["e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
             "e820: remove [mem 0x000a0000-0x000fffff] usable",
             f"last_pfn = {lay.ram_end // PAGE:#x} max_arch_pfn = 0x400000000",
             f"RAMDISK: [mem {RAMDISK[0]:#010x}-{RAMDISK[1]:#010x}]",
             "ACPI: SRAT 0x00000000BFFE2140 000150 (v01 BOCHS  BXPC     00000001 BXPC 00000001)",
             "ACPI: Reserving SRAT table memory at [mem 0xbffe2140-0xbffe228f]"]
    msgs += [f"SRAT: PXM {n} -> APIC {n:#04x} -> Node {n}" for n in range(lay.nodes)]
    msgs += [f"ACPI: SRAT: Node {n} PXM {n} [mem {s:#010x}-{e - 1:#010x}]{' hotplug' if hp else ''}"
             for n, s, e, hp in lay.srat_ranges()]
    end0 = lay.node_span(0)[1]
    msgs += ["NUMA: Node 0 [mem 0x00001000-0x0009ffff] + [mem 0x00100000-0xbfffffff] -> [mem 0x00001000-0xbfffffff]",
             f"NUMA: Node 0 [mem 0x00001000-0xbfffffff] + [mem 0x100000000-{end0 - 1:#x}] -> "
             f"[mem 0x00001000-{end0 - 1:#x}]"]
    for n in range(lay.nodes):
        s, e, home = lay.node_data(n)
        msgs.append(f"NODE_DATA({n}) allocated [mem {s:#010x}-{e - 1:#010x}]")
        if home != n:
            msgs.append(f"    NODE_DATA({n}) on node {home}")
    msgs += ["Zone ranges:", f"  DMA      [mem {0x1000:#018x}-{DMA_END - 1:#018x}]",
             f"  DMA32    [mem {DMA_END:#018x}-{DMA32_END - 1:#018x}]",
             f"  Normal   [mem {DMA32_END:#018x}-{lay.ram_end - 1:#018x}]", "  Device   empty",
             "Movable zone start for each node"]
    msgs += [f"  Node {n}: {lay.node_span(n)[0]:#018x}" for n in range(lay.nodes) if lay.hotpluggable(n)]
    msgs.append("Early memory node ranges")
    early = [(0, 0x1000, 0x9F000), (0, 0x100000, LOW_RAM_END), (0, HOLE[1], end0)]
    early += [(n, *lay.node_span(n)) for n in range(1, lay.nodes)]
    msgs += [f"  node {n:>3}: [mem {s:#018x}-{e - 1:#018x}]" for n, s, e in early]
    msgs += [f"Initmem setup node {n} [mem {max(lay.node_span(n)[0], 0x1000):#018x}-{lay.node_span(n)[1] - 1:#018x}]"
             for n in range(lay.nodes)]
    msgs += ["On node 0, zone DMA: 1 pages in unavailable ranges", "On node 0, zone DMA: 97 pages in unavailable ranges",
             f"Kernel command line: {lay.cmdline}"]
    total = sum(z[3] for n in range(lay.nodes) for z in lay.zones(n)) * 4
    msgs.append(f"Memory: {total - total // 50}K/{total}K available (16384K kernel code, 2499K rwdata, "
                f"11700K rodata, 4252K init, 4932K bss, {total // 50}K reserved, 0K cma-reserved)")
    return "".join(f"[{i // 1000:5d}.{(i % 1000) * 1000:06d}] {m}\n" for i, m in enumerate(msgs))


def write_snapshot(lay: Layout, root: str) -> None:
    """Write every file of the layout below ``root`` (which must not exist yet)."""
    os.makedirs(root)
    files = {
        "proc/cmdline": lay.cmdline + "\n",
        "proc/sys/kernel/osrelease": RELEASE + "\n",
        "proc/zoneinfo": zoneinfo_text(lay),
        "proc/iomem": iomem_text(lay),
        "sys/firmware/acpi/tables/SRAT": lay.srat(),
        "var/log/dmesg": boot_log(lay),
        "sys/devices/system/memory/block_size_bytes": f"{lay.block_size:x}\n",
        "sys/devices/system/memory/auto_online_blocks": "offline\n",
        "sys/module/memory_hotplug/parameters/online_policy": "contig-zones\n",
        "sys/module/memory_hotplug/parameters/auto_movable_ratio": "301\n",
        "sys/module/memory_hotplug/parameters/auto_movable_numa_aware": "Y\n",
        "sys/module/memory_hotplug/parameters/memmap_on_memory": "N\n",
    }
    nodes = list(range(lay.nodes))
    normal = [n for n in nodes if not lay.hotpluggable(n)]
    for name, members in (("online", nodes), ("possible", nodes), ("has_memory", nodes),
                          ("has_normal_memory", normal), ("has_cpu", nodes)):
        files[f"sys/devices/system/node/{name}"] = _range_list(members) + "\n"
    for n in nodes:
        kb = sum(z[3] for z in lay.zones(n)) * 4
        files[f"sys/devices/system/node/node{n}/cpulist"] = f"{n}\n"
        files[f"sys/devices/system/node/node{n}/meminfo"] = (
            f"Node {n} MemTotal:       {kb:>8} kB\nNode {n} MemFree:        {kb * 9 // 10:>8} kB\n"
            f"Node {n} MemUsed:        {kb - kb * 9 // 10:>8} kB\nNode {n} HugePages_Total:     0\n")
    for i, (s, e, kind) in enumerate(lay.e820):
        files[f"sys/firmware/memmap/{i}/start"] = f"{s:#x}\n"
        files[f"sys/firmware/memmap/{i}/end"] = f"{e:#x}\n"
        files[f"sys/firmware/memmap/{i}/type"] = MEMMAP_TYPES[kind] + "\n"
    for rel, text in files.items():
        _put(root, rel, text)
    _write_blocks(lay, os.path.join(root, "sys/devices/system/memory"))


def _write_blocks(lay: Layout, memdir: str) -> None:
    sections = lay.block_size // (128 << 20)  # x86_64 memory sections are 128 MiB
    node = 0
    for number in lay.numbers:
        while number > lay.node_blocks[node][1]:
            node += 1
        d = os.path.join(memdir, f"memory{number}")
        os.mkdir(d)
        online = number not in lay.offline
        for fname, text in (("phys_index", f"{number * sections:08x}\n"),
                            ("state", "online\n" if online else "offline\n"), ("online", f"{int(online)}\n"),
                            ("valid_zones", lay.block_zone(number) + "\n"), ("removable", "1\n"),
                            ("phys_device", "0\n")):
            fd = os.open(os.path.join(d, fname), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            os.write(fd, text.encode())
            os.close(fd)
        os.symlink(f"../../node/node{node}", os.path.join(d, f"node{node}"))


def cached_snapshot(lay: Layout, cache: str = CACHE_DIR) -> str:
    """The snapshot of ``lay`` under ``cache``, written on first use (atomically renamed into place)."""
    final = os.path.join(cache, lay.name)
    if os.path.isdir(final):
        return final
    os.makedirs(cache, exist_ok=True)
    tmp = f"{final}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    write_snapshot(lay, tmp)
    os.rename(tmp, final)
    return final


BOOTLOG_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "bootlog")
MEMBLOCK_LOGS = ("k612-2node-memblock-debug.dmesg", "k61-2node-memblock-debug.dmesg")


def memblock_debug_log(size: int) -> str:
    """A dmesg log of about ``size`` bytes: a real memblock=debug boot's opening lines (through
    its first memblock call), then the real ``memblock_*`` call lines of the 6.1 and 6.12
    captures repeated with rising timestamps, then the 6.12 capture's remaining lines."""
    with open(os.path.join(BOOTLOG_DATA, MEMBLOCK_LOGS[0])) as f:
        lines = f.read().splitlines()
    calls = []
    for name in MEMBLOCK_LOGS:
        with open(os.path.join(BOOTLOG_DATA, name)) as f:
            calls += [ln.split("] ", 1)[1] for ln in f.read().splitlines() if "] memblock_" in ln]
    first = next(i for i, ln in enumerate(lines) if "] memblock_" in ln)
    head, tail = lines[:first], [ln.split("] ", 1)[1] for ln in lines[first:] if "] " in ln]
    out, total, usec = list(head), sum(len(ln) + 1 for ln in head), 40_000
    tail_bytes = sum(len(ln) + 16 for ln in tail)
    while total + tail_bytes < size:
        for msg in calls:
            line = f"[{usec // 1_000_000:5d}.{usec % 1_000_000:06d}] {msg}"
            out.append(line)
            total += len(line) + 1
            usec += 1
    for msg in tail:
        usec += 1
        out.append(f"[{usec // 1_000_000:5d}.{usec % 1_000_000:06d}] {msg}")
    return "\n".join(out) + "\n"
