"""Write a snapshot: every path of :mod:`probes.capture` that exists under a root.

The result is a directory mirroring the real paths, or a deterministic ``.tar.gz``
(sorted members, zero times and owners) when the destination ends so. Files are copied
by reading them through the :class:`~probes.root.Root` (sysfs reports a size of 4096
for every file), links marked ``@`` are kept as their relative targets, and the boot
log goes to ``var/log/dmesg``. Nothing is written outside the destination, and an
existing destination is refused.
"""
from __future__ import annotations

import fnmatch
import gzip
import io
import os
import shutil
import stat
import tarfile

from probes import capture
from probes.bootlog import read_boot_log_text
from probes.generation import Settled, read_settled
from probes.records import frozen
from probes.reading import Reading, Status
from probes.root import Root, RootError
from probes.snapshot_notes import NOTES


@frozen
class SnapshotResult:
    """What was written: counts, each path skipped with its reason (denied, escaping link), and
    whether memory held still while it was read (None: not a live machine, or not known)."""

    dest: str
    files: int
    links: int
    skipped: tuple[tuple[str, str], ...]
    consistent: bool | None = None
    tries: int = 1


def expand(root: Root, pattern: str) -> list[str]:
    """The paths under ``root`` matching ``pattern`` (``*`` within one component), sorted."""
    paths = [""]
    for part in pattern.split("/"):
        nxt = []
        for base in paths:
            if "*" not in part:
                nxt.append(f"{base}/{part}" if base else part)
                continue
            listing = root.listdir(base)
            if listing.ok:
                nxt += [f"{base}/{n}" if base else n for n in listing.value or [] if fnmatch.fnmatchcase(n, part)]
        paths = nxt
    return sorted(paths)


def collect(root: Root) -> tuple[dict[str, bytes], dict[str, str], list[tuple[str, str]]]:
    """Read every capture path: (files, links, skipped) without writing anything."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []

    def take(rel: str, reading: Reading[bytes]) -> None:
        if reading.ok:
            files[rel] = reading.value or b""
        elif reading.status is not Status.ABSENT:
            skipped.append((rel, reading.describe()))

    for rel in capture.FILES:
        take(rel, root.read_bytes(rel))
    for pattern in capture.PATTERNS:
        is_link = pattern.endswith("@")
        for rel in expand(root, pattern.rstrip("@")):
            if not is_link:
                take(rel, root.read_bytes(rel))
                continue
            target = root.readlink(rel)
            if not target.ok:
                if target.status is not Status.ABSENT:
                    skipped.append((rel, target.describe()))
                continue
            link = target.value or ""
            resolved = os.path.normpath(os.path.join(os.path.dirname(rel), link))
            if os.path.isabs(link) or resolved == ".." or resolved.startswith("../"):
                skipped.append((rel, f"{rel}: link to {link!r} leaves the root; not kept"))
            else:
                links[rel] = link
    take(capture.BOOT_LOG, _boot_log(root))
    return files, links, skipped


def _boot_log(root: Root) -> Reading[bytes]:
    """The boot log text as bytes: the kernel log on a live root, var/log/dmesg in a snapshot."""
    text = read_boot_log_text(root)
    return Reading(capture.BOOT_LOG, text.status, (text.value or "").encode() if text.ok else None, text.problem)


def write_snapshot(root: Root, dest: str) -> SnapshotResult:
    """Copy the capture paths of ``root`` into ``dest`` (a new directory, or ``*.tar.gz``).

    Raises RootError (code 2) when ``dest`` exists or cannot be written.
    """
    if os.path.lexists(dest):
        raise RootError(f"{dest}: already exists; refusing to overwrite")
    got = read_settled(root, lambda: collect(root)) if root.live else Settled(collect(root), None, 1, (None, None))
    (files, links, skipped), consistent, tries = got.value, got.held, got.tries
    notes = [f"lacks {reason}" for _, reason in skipped]
    if consistent is False:
        notes.append(f"inconsistent: memory changed while it was read, {tries} times (uevent_seqnum moved)")
    if notes:
        files[NOTES] = "".join(f"{n}\n" for n in notes).encode()
    try:
        if dest.endswith((".tar.gz", ".tgz")):
            _write_tar(dest, files, links)
        else:
            write_dir(dest, files, links)
    except OSError as exc:
        raise RootError(f"{dest}: cannot write snapshot ({exc.strerror or exc})") from None
    return SnapshotResult(dest, len(files) - (NOTES in files), len(links), tuple(skipped), consistent, tries)


def write_dir(dest: str, files: dict[str, bytes], links: dict[str, str]) -> None:
    """Write ``files`` and ``links`` (relative path -> bytes or link target) into the new directory ``dest``."""
    os.mkdir(dest, 0o755)
    try:
        for rel, data in sorted(files.items()):
            _mkdirs(dest, os.path.dirname(rel))
            fd = os.open(os.path.join(dest, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        for rel, target in sorted(links.items()):
            _mkdirs(dest, os.path.dirname(rel))
            os.symlink(target, os.path.join(dest, rel))
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _mkdirs(dest: str, rel: str) -> None:
    """Create ``dest/rel`` as real directories, never following a link."""
    path = dest
    for part in filter(None, rel.split("/")):
        path = os.path.join(path, part)
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise NotADirectoryError(f"{path} is not a directory")
        except FileNotFoundError:
            os.mkdir(path, 0o755)


def _write_tar(dest: str, files: dict[str, bytes], links: dict[str, str]) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel in sorted(set(files) | set(links)):
                info = tarfile.TarInfo(rel)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if rel in links:
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, links[rel], 0o777
                    tar.addfile(info)
                else:
                    info.size, info.mode = len(files[rel]), 0o644
                    tar.addfile(info, io.BytesIO(files[rel]))
    except BaseException:
        os.unlink(dest)
        raise
