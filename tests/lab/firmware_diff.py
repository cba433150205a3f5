"""What the firmware changes: each scenario's SeaBIOS and UEFI recordings side by side.

    python -m tests.lab.run firmware [--kernel 6.1|...|all] [--scenario NAME ...]

For every scenario recorded under both firmwares on a series, one row: ``same`` when the
zones (span and present pages) and the memory blocks' states and zones agree, else what
differs (``N0 DMA32 present -1234`` is UEFI's pages less SeaBIOS's). The closing note of
issue 18 holds its output.
"""
from __future__ import annotations

from pathlib import Path

from tests.lab import recording
from tests.lab.scenario import Scenario


def zone_differences(bios: tuple[recording.ZoneRow, ...], uefi: tuple[recording.ZoneRow, ...]) -> list[str]:
    """Per (node, zone): span and present pages that differ, UEFI against SeaBIOS."""
    a = {(n, z): (s, sp, p) for n, z, s, sp, p in bios}
    b = {(n, z): (s, sp, p) for n, z, s, sp, p in uefi}
    out = []
    for key in sorted(a.keys() | b.keys()):
        name = f"N{key[0]} {key[1]}"
        if key not in a or key not in b:
            out.append(f"{name} only under {'UEFI' if key in b else 'SeaBIOS'}")
            continue
        (s0, sp0, p0), (s1, sp1, p1) = a[key], b[key]
        if (s0, sp0) != (s1, sp1):
            out.append(f"{name} span {s0}+{sp0} -> {s1}+{sp1}")
        if p0 != p1:
            out.append(f"{name} present {p1 - p0:+d}")
    return out


def block_differences(bios: dict[int, tuple[str, str]], uefi: dict[int, tuple[str, str]]) -> list[str]:
    """Memory blocks whose state or valid zones differ, and blocks only one firmware shows."""
    changed = sorted(n for n in bios.keys() & uefi.keys() if bios[n] != uefi[n])
    only = sorted(bios.keys() ^ uefi.keys())
    out = [f"memory{n} {'/'.join(bios[n])} -> {'/'.join(uefi[n])}" for n in changed[:4]]
    if len(changed) > 4:
        out.append(f"... {len(changed) - 4} more blocks")
    if only:
        out.append(f"{len(only)} blocks under one firmware only")
    return out


def compare(path_bios: Path, path_uefi: Path) -> str:
    """One cell: ``same`` or the differences, ``; ``-separated."""
    bios, uefi = (recording.unpack(p.read_bytes()) for p in (path_bios, path_uefi))
    diffs = zone_differences(recording.zone_layout(bios), recording.zone_layout(uefi))
    diffs += block_differences(recording.block_zones(bios), recording.block_zones(uefi))
    return "; ".join(diffs) or "same"


def print_table(scenarios: list[Scenario], series: tuple[str, ...]) -> int:
    """One row per scenario and series: what UEFI changes against SeaBIOS."""
    width = max(len(sc.name) for sc in scenarios)
    print(f"{'scenario':{width}}  series  UEFI against SeaBIOS")
    for sc in scenarios:
        for s in series:
            paths = [recording.RECORDINGS / recording.series_dir(s, fw) / f"{sc.name}.tar.gz"
                     for fw in ("seabios", "uefi")]
            cell = compare(*paths) if all(p.exists() for p in paths) else "(not recorded under both)"
            print(f"{sc.name:{width}}  {s:6}  {cell}")
    return 0
