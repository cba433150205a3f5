"""Recordings: deterministic packing of a guest snapshot plus lab metadata, and the
layout facts the lab compares (per-node zones from /proc/zoneinfo, memory-block zones).

A recording is ``recordings/<series>/<scenario>.tar.gz`` (SeaBIOS) or
``recordings/<series>-uefi/<scenario>.tar.gz`` (OVMF): the snapshot tree (paths of
:mod:`probes.capture`) plus ``lab/scenario.toml``, ``lab/kernel-release``, ``lab/firmware``,
``lab/qemu-args`` and ``lab/steps.log``. Members are sorted, with mtime 0 and uid/gid 0,
so re-recording an unchanged layout gives a small diff.
"""
from __future__ import annotations

import gzip
import io
import re
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path

from probes.zoneinfo import parse_zoneinfo

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"


def series_dir(series: str, firmware: str) -> str:
    """The recordings/ folder of a series under a firmware: ``6.1`` (SeaBIOS), ``6.1-uefi``. One level
    deep like the SeaBIOS folders, so every reader's ``recordings/*/*.tar.gz`` finds both."""
    return series if firmware == "seabios" else f"{series}-{firmware}"


def split_series_dir(name: str) -> tuple[str, str]:
    """(series, firmware) of a recordings/ folder name: ``6.1-uefi`` -> (``6.1``, ``uefi``)."""
    series, _, firmware = name.partition("-")
    return series, firmware or "seabios"


@dataclass(frozen=True)
class Member:
    data: bytes = b""
    link: str | None = None  # symlink target (relative), None for a regular file


def unpack(tgz: bytes) -> dict[str, Member]:
    """Regular files and symlinks of a tar.gz, by normalised relative name."""
    out: dict[str, Member] = {}
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        for info in tar:
            name = info.name.removeprefix("./").strip("/")
            if not name or ".." in name.split("/"):
                continue
            if info.issym():
                out[name] = Member(link=info.linkname)
            elif info.isfile():
                f = tar.extractfile(info)
                out[name] = Member(f.read() if f else b"")
    return out


def pack(members: dict[str, Member]) -> bytes:
    """A deterministic tar.gz of ``members`` (parent directories added)."""
    dirs = {"/".join(n.split("/")[:i]) for n in members for i in range(1, n.count("/") + 1)}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(dirs | set(members)):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            m = members.get(name)
            if m is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif m.link is not None:
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, m.link
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def steps_log(guest: str, host: list[str]) -> str:
    """Host and guest lines of each step, in step order (host first within a step)."""
    def key(item: tuple[int, str]) -> tuple[int, int]:
        m = re.match(r"step (\d+): (host|guest)", item[1])
        return (int(m.group(1)), 0 if m.group(2) == "host" else 1) if m else (1 << 30, item[0])
    lines = [(i, line) for i, line in enumerate([*host, *guest.splitlines()]) if line.strip()]
    return "".join(line + "\n" for _, line in sorted(lines, key=key)) or "no runtime steps\n"


def record(snapshot: bytes, scenario_text: str, release: str, qemu_args: list[str], host_log: list[str],
           firmware: str = "seabios") -> bytes:
    """The recording: the guest snapshot plus lab/ metadata, packed deterministically."""
    members = unpack(snapshot)
    guest = members.pop("lab/steps.log", Member()).data.decode()
    members["lab/scenario.toml"] = Member(scenario_text.encode())
    members["lab/kernel-release"] = Member(release.encode() + b"\n")
    members["lab/firmware"] = Member(firmware.encode() + b"\n")
    members["lab/qemu-args"] = Member((shlex.join(qemu_args) + "\n").encode())
    members["lab/steps.log"] = Member(steps_log(guest, host_log).encode())
    return pack(members)


ZoneRow = tuple[int, str, int | None, int, int]  # node, zone, start_pfn, spanned, present


def zone_layout(members: dict[str, Member]) -> tuple[ZoneRow, ...]:
    """Every zone with pages (spanned or present), from proc/zoneinfo."""
    info = parse_zoneinfo(members["proc/zoneinfo"].data.decode())
    return tuple((z.node, z.name, z.start_pfn, z.spanned, z.present) for z in info.zones if z.spanned or z.present)


def block_zones(members: dict[str, Member]) -> dict[int, tuple[str, str]]:
    """memory block number -> (state, valid_zones) as sysfs showed them."""
    out = {}
    for name, m in members.items():
        hit = re.fullmatch(r"sys/devices/system/memory/memory(\d+)/state", name)
        if hit:
            zones = members.get(name.rsplit("/", 1)[0] + "/valid_zones", Member()).data.decode().strip()
            out[int(hit.group(1))] = (m.data.decode().strip(), zones)
    return out


def _human(nbytes: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if nbytes and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift}{unit}"
    return f"{nbytes:#x}" if nbytes else "0"


def summary(rows: tuple[ZoneRow, ...]) -> str:
    """``N0 DMA[4K,16M)=15M DMA32[16M,2G)=2032M | N1 ...``: each zone's span and present memory."""
    per_node: dict[int, list[str]] = {}
    for node, zone, start, spanned, present in rows:
        span = f"[{_human(start << 12)},{_human((start + spanned) << 12)})" if start is not None else "(unset)"
        per_node.setdefault(node, []).append(f"{zone}{span}={_human(present << 12)}")
    return " | ".join(f"N{n} " + " ".join(z) for n, z in sorted(per_node.items()))
