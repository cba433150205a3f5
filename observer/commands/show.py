"""``movcheck show``: the live layout as the kernel describes it, judging nothing."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from observer.errors import require
from observer.render.output import fmt_range, fmt_size, print_json
from probes.cmdline import CommandLine, read_cmdline
from probes.firmware import describe_json, read_firmware
from probes.hotplug_params import read_hotplug_params
from probes.kernel import read_release
from probes.memory_blocks import MemoryBlocks, group_blocks, read_memory_blocks
from probes.nodes import read_nodes
from probes.reading import Reading, Status
from probes.root import Root
from probes.srat import read_srat
from probes.zoneinfo import ZoneInfo, read_zoneinfo

HELP = "print the live layout: nodes, zones, SRAT ranges, memory blocks, boot options"
PAGE = 4096
#: The block files ``show`` prints (through group_blocks): half of BLOCK_FILES, half the reads.
SHOW_FILES = ("state", "removable", "valid_zones")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def optional(reading: Reading, skipped: list[str]) -> Any:
    """The value of an optional source; denied or malformed ones are noted in ``skipped``.

    A malformed optional source is still bad input: ``require`` stops the command.
    """
    if reading.status is Status.MALFORMED:
        require(reading)
    if reading.status is Status.DENIED:
        skipped.append(reading.describe())
    return reading.value


def shown(reading: Reading, skipped: list[str]) -> Any:
    """The value of a source ``show`` exists for (zones, memory blocks): absent or denied is
    noted in ``skipped`` and shown as unknown; malformed stops the command."""
    if reading.status is Status.MALFORMED:
        require(reading)
    if not reading.ok:
        skipped.append(reading.describe())
    return reading.value


def cmdline_options(cmd: CommandLine) -> dict[str, Any]:
    """The command-line options that decide the zone layout, as given."""
    return {
        "raw": cmd.raw,
        "movable_node": cmd.movable_node,
        "kernelcore": [a.raw for a in cmd.kernelcore.occurrences],
        "movablecore": [a.raw for a in cmd.movablecore.occurrences],
        "mem": list(cmd.mem),
        "memmap": [m.raw for m in cmd.memmap],
        "numa": [v for v in cmd.values("numa")],
        "memhp_default_state": cmd.memhp_default_state,
        "memory_hotplug.online_policy": cmd.memory_hotplug.online_policy,
        "memory_hotplug.auto_movable_ratio": cmd.memory_hotplug.auto_movable_ratio,
        "movablemem_map": [v for v in cmd.values("movablemem_map")],
        "nokaslr": cmd.nokaslr,
    }


def gather(root: Root) -> tuple[dict[str, Any], list[str]]:
    """Everything ``show`` prints, as JSON-ready data, and the sources it skipped."""
    skipped: list[str] = []
    zoneinfo_r, blocks_r = read_zoneinfo(root), read_memory_blocks(root, SHOW_FILES)
    if not zoneinfo_r.ok and not blocks_r.ok:  # nothing show exists for: say why, exit 3
        require(zoneinfo_r if zoneinfo_r.status is Status.MALFORMED else blocks_r)
    zoneinfo: ZoneInfo | None = shown(zoneinfo_r, skipped)
    blocks: MemoryBlocks | None = shown(blocks_r, skipped)
    release = optional(read_release(root), skipped)
    cmd = optional(read_cmdline(root), skipped)
    nodes = optional(read_nodes(root), skipped)
    params = optional(read_hotplug_params(root), skipped)
    srat = optional(read_srat(root), skipped)
    firmware = read_firmware(root).value
    data: dict[str, Any] = {
        "kernel": release.raw if release else None,
        "firmware": firmware.to_json() if firmware else None,
        "cmdline": cmdline_options(cmd) if cmd else None,
        "nodes": [{"node": n.number, "cpus": sorted(n.cpus) if n.cpus is not None else None,
                   "mem_total": n.meminfo.get("MemTotal") * 1024 if n.meminfo and "MemTotal" in n.meminfo else None,
                   "has_memory": nodes.has_memory is not None and n.number in nodes.has_memory,
                   "has_normal_memory": nodes.has_normal_memory is not None
                   and n.number in nodes.has_normal_memory}
                  for n in nodes.nodes] if nodes else [],
        "zones": [{"node": z.node, "zone": z.name, "start_pfn": z.start_pfn, "spanned": z.spanned,
                   "present": z.present, "managed": z.managed}
                  for z in zoneinfo.zones if z.spanned] if zoneinfo else None,
        "srat": [{"proximity_domain": m.proximity_domain, "base": m.base, "length": m.length,
                  "enabled": m.enabled, "hotpluggable": m.hotpluggable, "non_volatile": m.non_volatile}
                 for m in srat.memory] if srat else None,
        "hotplug": vars(params) if params else None,
        "memory": {"block_size": blocks.block_size,
                   "ranges": [{"range": fmt_range(r.start, r.end + 1), "start": r.start, "size": r.size,
                               "state": r.state, "removable": r.removable,
                               "block": f"{r.first}" if r.first == r.last else f"{r.first}-{r.last}",
                               "node": r.node, "zones": list(r.valid_zones or ())}
                              for r in group_blocks(blocks)]} if blocks else None,
        "skipped": skipped,
    }
    return data, skipped


def render(data: dict[str, Any]) -> str:
    """The human form: short sections, each a small table, under 80 columns."""
    out = [f"kernel {data['kernel'] or '?'}  firmware {describe_json(data['firmware'])}"]
    if data["cmdline"]:
        cmd = data["cmdline"]
        given = [k if v is True else f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                 for k, v in cmd.items() if k != "raw" and v not in (None, False, [])]
        out.append("options " + (" ".join(given) if given else "(none that decide the zone layout)"))
    if data["nodes"]:
        out += ["", "NODE  CPUS        MEMORY  NORMAL"]
        for n in data["nodes"]:
            cpus = _cpulist(n["cpus"]) if n["cpus"] is not None else "?"
            mem = fmt_size(n["mem_total"]) if n["mem_total"] is not None else "?"
            out.append(f"{n['node']:>4}  {cpus:<10} {mem:>7}  {'yes' if n['has_normal_memory'] else 'no'}")
    out += ["", "NODE ZONE     START_PFN   SPANNED   PRESENT   MANAGED  RANGE"]
    if data["zones"] is None:
        out.append("   ? zones unknown (no proc/zoneinfo)")
    for z in data["zones"] or ():
        start = z["start_pfn"]
        span = fmt_range(start * PAGE, (start + z["spanned"]) * PAGE) if start is not None else "?"
        managed = z["managed"] if z["managed"] is not None else "?"
        out.append(f"{z['node']:>4} {z['zone']:<8} {start if start is not None else '?':>9} "
                   f"{z['spanned']:>9} {z['present']:>9} {managed:>9}  {span}")
    out.append("")
    if data["srat"] is None:
        out.append("SRAT: none (no NUMA affinity from the firmware)")
    else:
        out.append("PXM RANGE                                   SIZE  FLAGS")
        for m in data["srat"]:
            flags = [f for f, on in (("enabled", m["enabled"]), ("hotplug", m["hotpluggable"]),
                                     ("non-volatile", m["non_volatile"])) if on] or ["disabled"]
            out.append(f"{m['proximity_domain']:>3} {fmt_range(m['base'], m['base'] + m['length'])} "
                       f"{fmt_size(m['length']):>5}  {' '.join(flags)}")
    mem = data["memory"]
    if mem is None:
        out += ["", "memory blocks unknown (no sys/devices/system/memory)"]
        return "\n".join(out)
    out += ["", f"memory blocks of {fmt_size(mem['block_size'])}",
            "RANGE                                   SIZE   STATE REMOVABLE   BLOCK NODE ZONES"]
    for r in mem["ranges"]:
        rem = {True: "yes", False: "no", None: "-"}[r["removable"]] if r["state"] == "online" else ""
        out.append(f"{r['range']} {fmt_size(r['size']):>5} {r['state'] or '?':>7} {rem:>9} {r['block']:>7} "
                   f"{r['node'] if r['node'] is not None else '-':>4} {'/'.join(r['zones']) or '-'}")
    return "\n".join(out)


def _cpulist(cpus: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0-2,5``."""
    parts: list[str] = []
    for c in cpus:
        if parts and c == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{c}"
        else:
            parts.append(str(c))
    return ",".join(parts) or "-"


def run(args: argparse.Namespace, root: Root) -> int:
    data, skipped = gather(root)
    if args.json:
        print_json(data)
    else:
        print(render(data))
    for line in skipped:
        print(f"movcheck show: skipped {line}", file=sys.stderr)
    return 0
