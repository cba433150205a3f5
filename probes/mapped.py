"""Roots mapped from inputs that are not snapshots: a single boot-log file, a sosreport.

Each becomes a private directory laid out as a snapshot (probes/capture.py paths), which
:func:`probes.root.open_root` hands over as a :class:`~probes.root.Root`: a log file is
recognised (probes/logform.py) and its normalised text is the root's ``var/log/dmesg``;
a sosreport's copies of ``proc/`` and ``sys/`` are read through a confined root and
written beside the best boot log it holds. Nothing is written outside that directory.
"""
from __future__ import annotations

import gzip
import lzma
import os
import zlib

from probes import capture
from probes.bootlog import parse_boot_log
from probes.records import frozen
from probes.logform import LogForm, recognise
from probes.reading import ParseError
from probes.root import Root, RootError
from probes.snapshot import collect, write_dir

#: A boot log larger than this (after decompression) is refused.
MAX_LOG_BYTES = 256 << 20
#: Where a sosreport keeps a kernel log, best first (sos's kernel and logs plugins).
SOS_LOGS = ("sos_commands/kernel/dmesg", capture.BOOT_LOG, "sos_commands/logs/journalctl_--no-pager_--boot",
            "sos_commands/logs/journalctl_--no-pager_--catalog_--boot", "sos_commands/logs/journalctl_--no-pager",
            "var/log/kern.log", "var/log/messages", "var/log/syslog")


@frozen
class Mapped:
    """What a mapped root was made from: one line for the user, and the boot log's origin."""

    origin: str                        # 'boot log (journalctl -k export)', 'sosreport ...'
    log_name: str                      # the file the boot log's lines come from
    log_lines: tuple[int, ...] | None  # that file's line for each line of var/log/dmesg


def read_limited(path: str) -> bytes:
    """The file's bytes, decompressed when gzip or xz; RootError when unreadable or too large."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
            f.seek(0)
            if head[:2] == b"\x1f\x8b":
                data = gzip.GzipFile(fileobj=f).read(MAX_LOG_BYTES + 1)
            elif head == b"\xfd7zXZ\x00":
                data = lzma.LZMAFile(f).read(MAX_LOG_BYTES + 1)
            else:
                data = f.read(MAX_LOG_BYTES + 1)
    except PermissionError as exc:
        raise RootError(f"{path}: {exc.strerror}", 3) from None
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise RootError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})", 2) from None
    if len(data) > MAX_LOG_BYTES:
        raise RootError(f"{path}: larger than a boot log may be ({MAX_LOG_BYTES >> 20} MiB); refused")
    return data


def map_log_file(path: str, dest: str) -> Mapped:
    """Recognise the boot log in file ``path`` and lay it out in the empty directory ``dest``."""
    try:
        form = recognise(read_limited(path))
    except ParseError as exc:
        raise RootError(f"{path}: {exc}", 2) from None
    write_dir(dest, {capture.BOOT_LOG: form.text.encode()}, {})
    return Mapped(f"input: {form.describe()}", path, form.lines)


def map_sosreport(top: str, dest: str) -> Mapped:
    """The snapshot paths a sosreport holds, and its best kernel log, laid out in ``dest``."""
    src = Root(top)
    files, links, _ = collect(src)
    files.pop(capture.BOOT_LOG, None)
    chosen: tuple[str, LogForm] | None = None
    for rel in SOS_LOGS:
        r = src.read_bytes(rel)
        if not r.ok:
            continue
        try:
            form = recognise(r.value or b"")
        except ParseError:
            continue
        if chosen is None:
            chosen = (rel, form)
        if parse_boot_log(form.text).complete:
            chosen = (rel, form)
            break
    if chosen is not None:
        files[capture.BOOT_LOG] = chosen[1].text.encode()
    write_dir(dest, files, links)
    name = os.path.basename(top.rstrip("/"))
    if chosen is None:
        return Mapped(f"input: sosreport {name} (no kernel log in it)", "", None)
    rel, form = chosen
    return Mapped(f"input: sosreport {name}; {form.describe()} from {rel}", rel, form.lines)
