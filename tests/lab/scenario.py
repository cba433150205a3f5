"""Lab scenarios: one TOML file each in ``tests/lab/scenarios/`` (format in tests/lab/README.md)."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from probes.srat import (MEM_ENABLED, MEM_HOTPLUGGABLE, MEM_NON_VOLATILE, AcpiHeader, MemoryAffinity,
                         ProcessorAffinity, Srat)

SCENARIOS = Path(__file__).with_name("scenarios")
ALL_KERNELS = ("5.10", "6.1", "6.12", "7.x")
#: Guest firmware: QEMU's default SeaBIOS, or UEFI through Debian's ``ovmf`` (-bios OVMF.fd).
FIRMWARES = ("seabios", "uefi")
FLAG_BITS = {"enabled": MEM_ENABLED, "hotpluggable": MEM_HOTPLUGGABLE, "nonvolatile": MEM_NON_VOLATILE}
#: QEMU's own SRAT ids (hw/i386/acpi-build.c build_srat); an injected table must match them
#: and carry a higher OEM revision to replace it through the initrd table upgrade.
QEMU_OEM_ID, QEMU_OEM_TABLE_ID, QEMU_OEM_REVISION = "BOCHS ", "BXPC    ", 1
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class ScenarioError(ValueError):
    """A scenario file that does not describe a bootable machine."""


def size(value: int | str) -> int:
    """Bytes from ``123``, ``"0x1000"``, ``"640K"``, ``"2G"``."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(0x[0-9a-fA-F]+|\d+)\s*([KMGT]?)i?B?\s*", value)
    if not m:
        raise ScenarioError(f"not a size: {value!r}")
    return int(m.group(1), 0) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class Node:
    memory: int  # bytes of boot RAM (0: a node without boot memory)
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class Dimm:
    id: str
    size: int
    node: int


@dataclass(frozen=True)
class Step:
    """A runtime step: ``hotadd`` (dimm), ``hotremove`` (dimm id) or ``write`` (value to blocks' state)."""

    action: str
    dimm: Dimm | None = None
    value: str = ""
    blocks: tuple[int, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    text: str  # the file as written, copied into each recording
    kernels: tuple[str, ...]
    cmdline: str
    memory: int
    slots: int
    maxmem: int
    smp: int
    nodes: tuple[Node, ...]  # empty: no -numa, so QEMU writes no SRAT
    dimms: tuple[Dimm, ...]  # cold-plugged at boot
    srat: Srat | None  # None: QEMU's own table (or none without nodes)
    steps: tuple[Step, ...]
    pair: str | None
    timeout: int
    #: firmwares the scenario boots under (``firmware = "uefi"`` pins one; default both)
    firmwares: tuple[str, ...] = FIRMWARES


def _blocks(spec: str | int | list) -> tuple[int, ...]:
    if isinstance(spec, int):
        return (spec,)
    if isinstance(spec, list):
        return tuple(b for item in spec for b in _blocks(item))
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(out)


def _firmwares(value: str | list[str] | None) -> tuple[str, ...]:
    """``firmware = "uefi"`` (or a list) pins the firmwares a scenario boots under; absent: both."""
    names = FIRMWARES if value is None else (value,) if isinstance(value, str) else tuple(value)
    unknown = set(names) - set(FIRMWARES)
    if unknown or not names:
        raise ScenarioError(f"unknown firmware {sorted(unknown) or names!r}; known: {', '.join(FIRMWARES)}")
    return names


def _srat(table: dict, nodes: tuple[Node, ...]) -> Srat | None:
    if table.get("source", "qemu") == "qemu":
        return None
    memory = []
    for e in table.get("memory", []):
        unknown = set(e.get("flags", [])) - set(FLAG_BITS)
        if unknown:
            raise ScenarioError(f"unknown SRAT flags {sorted(unknown)}")
        flags = sum(FLAG_BITS[f] for f in e.get("flags", []))
        memory.append(MemoryAffinity(e["pxm"], size(e["base"]), size(e["length"]), flags))
    # CPU entries mirror QEMU's: APIC id = CPU index, on the node whose cpus list holds it.
    procs = tuple(ProcessorAffinity(nid, cpu, True) for nid, n in enumerate(nodes) for cpu in sorted(n.cpus))
    procs = tuple(sorted(procs, key=lambda p: p.apic_id))
    header = AcpiHeader("SRAT", 0, 1, 0, QEMU_OEM_ID, QEMU_OEM_TABLE_ID, QEMU_OEM_REVISION + 1, "MOVC", 1)
    return Srat(header, 1, tuple(memory), procs)


def load(path: Path) -> Scenario:
    """Parse one scenario file; raises ScenarioError naming the file on bad content."""
    return loads(path.read_text(), path.stem, str(path))


def loads(text: str, name: str, origin: str = "<scenario>") -> Scenario:
    """Parse scenario ``name`` from TOML ``text`` (``origin`` names it in errors)."""
    try:
        d = tomllib.loads(text)
        m = d.get("machine", {})
        nodes = tuple(Node(size(n.get("memory", 0)), tuple(n.get("cpus", ()))) for n in m.get("nodes", []))
        dimms = tuple(Dimm(x.get("id", f"cold{i}"), size(x["size"]), x["node"]) for i, x in enumerate(m.get("dimms", [])))
        steps = []
        for i, s in enumerate(d.get("steps", [])):
            act = s["action"]
            if act == "hotadd":
                steps.append(Step(act, Dimm(s.get("id", f"hp{i}"), size(s["size"]), s["node"])))
            elif act == "hotremove":
                steps.append(Step(act, Dimm(s["id"], 0, -1)))
            elif act == "write":
                steps.append(Step(act, value=s["value"], blocks=_blocks(s["blocks"])))
            else:
                raise ScenarioError(f"unknown step action {act!r}")
        smp = m.get("smp", max((c for n in nodes for c in n.cpus), default=1) + 1)
        sc = Scenario(name, d.get("description", "").strip(), text, tuple(d.get("kernels", ALL_KERNELS)),
                      d.get("cmdline", ""), size(m.get("memory", "6G")), m.get("slots", 4),
                      size(m.get("maxmem", "16G")), smp, nodes, dimms, _srat(d.get("srat", {}), nodes),
                      tuple(steps), d.get("pair"), d.get("timeout", 240), _firmwares(d.get("firmware")))
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ScenarioError(f"{origin}: {exc!r}") from exc
    except ScenarioError as exc:
        raise ScenarioError(f"{origin}: {exc}") from exc
    if nodes and sum(n.memory for n in nodes) != sc.memory:
        raise ScenarioError(f"{origin}: node memory adds up to {sum(n.memory for n in nodes)}, not -m {sc.memory}")
    if sc.srat is not None and not nodes:
        raise ScenarioError(f"{origin}: an injected SRAT needs machine.nodes (QEMU must write a table to replace)")
    return sc


def load_all(names: list[str] | None = None) -> list[Scenario]:
    """Every scenario (or the named ones), sorted by name."""
    paths = sorted(SCENARIOS.glob("*.toml"))
    if names:
        known = {p.stem: p for p in paths}
        missing = [n for n in names if n not in known]
        if missing:
            raise ScenarioError(f"unknown scenario(s): {', '.join(missing)}")
        paths = [known[n] for n in names]
    return [load(p) for p in paths]
