"""``movcheck srat``: the decoded ACPI SRAT, readable beside ``iasl -d`` output."""
from __future__ import annotations

import argparse
from typing import Any

from observer.errors import require
from observer.render.output import fmt_range, fmt_size, print_json
from probes.root import Root
from probes.srat import Srat, read_srat

HELP = "decode the ACPI SRAT (System Resource Affinity Table)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def srat_json(srat: Srat) -> dict[str, Any]:
    """The table as JSON: ``memory`` and ``processors`` lists, header and other subtables."""
    h = srat.header
    return {
        "header": {"signature": h.signature, "length": h.length, "revision": h.revision,
                   "checksum": h.checksum, "oem_id": h.oem_id, "oem_table_id": h.oem_table_id,
                   "oem_revision": h.oem_revision, "creator_id": h.creator_id,
                   "creator_revision": h.creator_revision, "table_revision": srat.table_revision},
        "memory": [{"proximity_domain": m.proximity_domain, "base": m.base, "length": m.length,
                    "enabled": m.enabled, "hotpluggable": m.hotpluggable, "non_volatile": m.non_volatile,
                    "flags": m.flags} for m in srat.memory],
        "processors": [{"proximity_domain": p.proximity_domain, "apic_id": p.apic_id, "enabled": p.enabled,
                        "x2apic": p.x2apic} for p in srat.processors],
        "gicc": [{"proximity_domain": g.proximity_domain, "acpi_processor_uid": g.acpi_processor_uid,
                  "enabled": g.enabled} for g in srat.gicc],
        "generic": [{"type": g.type, "proximity_domain": g.proximity_domain,
                     "device_handle_type": g.device_handle_type, "device_handle": g.device_handle.hex(),
                     "enabled": g.enabled} for g in srat.generic],
        "others": [{"type": o.type, "offset": o.offset, "length": len(o.data), "data": o.data.hex()}
                   for o in srat.others],
    }


def render(srat: Srat) -> str:
    """Human form: header, then one line per subtable with iasl's field names."""
    h = srat.header
    lines = [f'Signature "{h.signature}"  Length {h.length:#x}  Revision {h.revision}  '
             f"Checksum {h.checksum:#04x}",
             f'Oem ID "{h.oem_id}"  Oem Table ID "{h.oem_table_id}"  Oem Revision {h.oem_revision:#x}  '
             f'Asl Compiler ID "{h.creator_id}"  Revision {h.creator_revision:#x}',
             f"Table Revision {srat.table_revision}", ""]
    for p in srat.processors:
        kind = "Processor Local x2APIC Affinity" if p.x2apic else "Processor Local APIC/SAPIC Affinity"
        lines.append(f"{kind:37} Proximity Domain {p.proximity_domain:<3} APIC ID {p.apic_id:#04x}  "
                     f"{'Enabled' if p.enabled else 'Disabled'}")
    for m in srat.memory:
        flags = [name for name, on in (("Enabled", m.enabled), ("Hot Pluggable", m.hotpluggable),
                                       ("Non-Volatile", m.non_volatile)) if on] or ["Disabled"]
        span = fmt_range(m.base, m.end) if m.length else f"0x{m.base:016x} (empty)"
        lines.append(f"{'Memory Affinity':37} Proximity Domain {m.proximity_domain:<3} {span} "
                     f"{fmt_size(m.length):>6}  {', '.join(flags)}")
    for g in srat.gicc:
        lines.append(f"{'GICC Affinity':37} Proximity Domain {g.proximity_domain:<3} "
                     f"Acpi Processor UID {g.acpi_processor_uid}  {'Enabled' if g.enabled else 'Disabled'}")
    for gi in srat.generic:
        kind = "Generic Initiator Affinity" if gi.type == 5 else "Generic Port Affinity"
        lines.append(f"{kind:37} Proximity Domain {gi.proximity_domain:<3} Device Handle "
                     f"{gi.device_handle.hex()}  {'Enabled' if gi.enabled else 'Disabled'}")
    for o in srat.others:
        lines.append(f"{'Subtable Type ' + str(o.type):37} Offset {o.offset:#x}  Length {len(o.data)}  (raw)")
    return "\n".join(lines)


def run(args: argparse.Namespace, root: Root) -> int:
    srat = require(read_srat(root))
    assert isinstance(srat, Srat)
    if args.json:
        print_json(srat_json(srat))
    else:
        print(render(srat))
    return 0
