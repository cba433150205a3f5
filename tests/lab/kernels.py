"""Debian kernels for the lab: resolved at run time, downloaded once, never installed.

The package archive is the one this machine's own apt configuration names
(``/etc/apt/sources.list.d/*.sources`` or ``/etc/apt/sources.list``); only the
suites change. A private sources list and lists directory keep the host's apt
state untouched. Debs and the unpacked ``boot/`` trees are cached in
``$MOVCHECK_LAB_CACHE`` (default ``/var/cache/movcheck-lab``).
"""
from __future__ import annotations

import fcntl
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("MOVCHECK_LAB_CACHE", "/var/cache/movcheck-lab"))
LISTS_MAX_AGE = 24 * 3600  # re-read the archive's package lists once a day

#: Series -> (tiers of suites in order of preference, release pattern); the package is
#: ``linux-image-<release>-unsigned`` (vmlinuz and config under ``boot/``), and for 7.x,
#: where sid's ``linux-image-<release>`` is a meta package, ``linux-binary-<release>``
#: (under ``usr/lib/modules/<release>/``). 6.12 prefers bookworm-backports, whose headers
#: install on a Debian 12 host (see lab-notes: eBPF in the guest).
SERIES: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "5.10": ((("bullseye", "bullseye-updates", "bullseye-security"),), r"5\.10\.0-\d+-amd64"),
    "6.1": ((("bookworm", "bookworm-updates", "bookworm-security"),), r"6\.1\.0-\d+-amd64"),
    "6.12": ((("bookworm-backports",), ("trixie",)), r"6\.12\.\d+\+(?:bpo|deb\d+)-amd64"),
    "7.x": ((("sid",),), r"7\.\d+\.\d+\+deb\d+-amd64"),
}


class KernelUnavailable(RuntimeError):
    """No kernel of a series could be resolved or fetched."""


@dataclass(frozen=True)
class Kernel:
    series: str
    release: str  # e.g. 6.1.0-41-amd64, as uname -r reports it
    vmlinuz: Path
    config: Path


@dataclass(frozen=True)
class _Source:
    uri: str
    suites: tuple[str, ...]
    signed_by: str


def _machine_sources() -> list[_Source]:
    """Debian ``deb`` entries of the machine's own apt configuration."""
    out: list[_Source] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                out.append(_Source(fields.get("uris", "").split()[0], tuple(fields.get("suites", "").split()),
                                   fields.get("signed-by", "")))
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                out.append(_Source(m.group(1), (m.group(2),), ""))
    return out


#: Suites the lab reads besides the machine's own codename: (suite, from the security archive).
LAB_SUITES: tuple[tuple[str, bool], ...] = (
    ("bookworm", False), ("bookworm-updates", False), ("bookworm-backports", False), ("bookworm-security", True),
    ("bullseye", False), ("bullseye-updates", False), ("bullseye-security", True),
    ("trixie", False), ("sid", False))


def _private_sources() -> str:
    """A one-line-style sources list: the machine's Debian archive, with the lab's suites."""
    codename = "bookworm"
    sources = _machine_sources()
    main = next((s for s in sources if codename in s.suites), None)
    security = next((s for s in sources if f"{codename}-security" in s.suites), None)
    if main is None:
        raise KernelUnavailable(f"the machine's apt configuration has no '{codename}' archive to derive from")
    lines = []
    for suite, is_security in LAB_SUITES:
        src = security if is_security else main
        if src is None:
            continue
        opts = f" [signed-by={src.signed_by}]" if src.signed_by else ""
        lines.append(f"deb{opts} {src.uri} {suite} main")
    return "\n".join(lines) + "\n"


def _apt(*args: str) -> list[str]:
    return ["apt-get" if args[0] in ("update", "download") else "apt-cache",
            "-o", f"Dir::Etc::sourcelist={CACHE / 'apt' / 'sources.list'}",
            "-o", "Dir::Etc::sourceparts=/nonexistent",
            "-o", f"Dir::State::Lists={CACHE / 'apt' / 'lists'}",
            "-o", f"Dir::Cache={CACHE / 'apt' / 'cache'}",
            "-o", "Debug::NoLocking=1", "-q", *args]


def _refresh_lists() -> None:
    apt_dir = CACHE / "apt"
    (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt_dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    stamp = apt_dir / "updated"
    wanted = _private_sources()
    src = apt_dir / "sources.list"
    fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE
    if fresh and src.exists() and src.read_text() == wanted:
        return
    src.write_text(wanted)
    proc = subprocess.run(_apt("update"), capture_output=True, text=True)
    if proc.returncode == 0:
        stamp.touch()
    elif not any((apt_dir / "lists").glob("*Packages*")):
        raise KernelUnavailable(f"apt-get update failed: {proc.stderr.strip()[-400:]}")


def _candidates(series: str) -> list[tuple[int, str, str]]:
    """(tier, package, release) for every package of ``series`` the lists know."""
    tiers, pattern = SERIES[series]
    prefix, suffix = _package_form(series)
    names = [n for n in subprocess.run(_apt("pkgnames", prefix), capture_output=True, text=True).stdout.split()
             if re.fullmatch(rf"{prefix}{pattern}{suffix}", n)]
    if not names:
        return []
    madison = subprocess.run(_apt("madison", *names), capture_output=True, text=True).stdout
    found = set()
    for line in madison.splitlines():  # "pkg | version | URI suite/main amd64 Packages"
        cols = [c.strip() for c in line.split("|")]
        suite = cols[2].split()[1].split("/")[0] if len(cols) == 3 and len(cols[2].split()) > 1 else ""
        tier = next((i for i, t in enumerate(tiers) if suite in t), None)
        if tier is not None:
            found.add((tier, cols[0], cols[0].removeprefix(prefix).removesuffix(suffix)))
    return sorted(found)


def _package_form(series: str) -> tuple[str, str]:
    """(prefix, suffix) of the package name around the release."""
    return ("linux-binary-", "") if series.startswith("7") else ("linux-image-", "-unsigned")


def _release_key(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", release))


def resolve(series: str, prefer: str | None = None) -> Kernel:
    """The newest kernel of ``series`` (``6.1`` or ``6.12``), fetched and unpacked into the cache.

    ``prefer`` names a release (e.g. the one a recording was made on) to use instead when
    it is cached or still in the archive.
    """
    if series not in SERIES:
        raise KernelUnavailable(f"unknown kernel series {series!r}; known: {', '.join(SERIES)}")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if prefer and (CACHE / "kernels" / prefer / "boot" / f"vmlinuz-{prefer}").exists():
            return _kernel_from(series, CACHE / "kernels" / prefer)
        try:
            _refresh_lists()
            cands = _candidates(series)
        except (OSError, subprocess.SubprocessError, KernelUnavailable) as exc:
            cands = []
            error = str(exc)
        else:
            error = "no matching package in the archive"
        chosen = [c for c in cands if c[2] == prefer]
        if chosen:
            return _unpacked(series, chosen[0][1], prefer or "")
        if cands:
            best = min(c[0] for c in cands)
            _, pkg, release = max((c for c in cands if c[0] == best), key=lambda c: _release_key(c[2]))
            return _unpacked(series, pkg, release)
        cached = sorted((p for p in (CACHE / "kernels").glob("*") if re.fullmatch(SERIES[series][1], p.name)),
                        key=lambda p: _release_key(p.name))
        if cached:  # offline: fall back to the newest kernel already unpacked here
            return _kernel_from(series, cached[-1])
        raise KernelUnavailable(f"kernel {series}: {error}")


def fetch_deb(pkg: str) -> Path:
    """The cached .deb of ``pkg``, downloaded on first use."""
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    deb = next(debs.glob(f"{pkg}_*.deb"), None)
    if deb is None:
        proc = subprocess.run(_apt("download", pkg), cwd=debs, capture_output=True, text=True)
        deb = next(debs.glob(f"{pkg}_*.deb"), None)
        if proc.returncode != 0 or deb is None:
            raise KernelUnavailable(f"apt-get download {pkg} failed: {proc.stderr.strip()[-400:]}")
    return deb


def _extract(deb: Path, into: Path, members: list[str]) -> None:
    fsys = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into), *members], stdin=fsys.stdout, check=True)
    if fsys.wait() != 0:
        raise KernelUnavailable(f"dpkg-deb could not unpack {deb}")


def _unpacked(series: str, pkg: str, release: str) -> Kernel:
    tree = CACHE / "kernels" / release
    if (tree / "boot" / f"vmlinuz-{release}").exists():
        return _kernel_from(series, tree)
    partial = tree.with_name(tree.name + ".partial")
    subprocess.run(["rm", "-rf", str(partial)], check=True)
    partial.mkdir(parents=True)
    # Only vmlinuz and config are needed: the modules stay in the deb.
    if _package_form(series)[0] == "linux-image-":
        _extract(fetch_deb(pkg), partial, ["./boot"])
    else:
        # sid splits the image: vmlinuz in linux-binary-<release>, config and System.map in
        # linux-base-<release>, both under usr/lib/modules/<release>/; moved to boot/ here.
        modules = f"./usr/lib/modules/{release}"
        _extract(fetch_deb(pkg), partial, [f"{modules}/vmlinuz"])
        _extract(fetch_deb(f"linux-base-{release}"), partial, [f"{modules}/config", f"{modules}/System.map"])
        (partial / "boot").mkdir()
        for name in ("vmlinuz", "config", "System.map"):
            (partial / modules / name).rename(partial / "boot" / f"{name}-{release}")
        subprocess.run(["rm", "-rf", str(partial / "usr")], check=True)
    partial.rename(tree)
    return _kernel_from(series, tree)


def _kernel_from(series: str, tree: Path) -> Kernel:
    release = tree.name
    return Kernel(series, release, tree / "boot" / f"vmlinuz-{release}", tree / "boot" / f"config-{release}")
