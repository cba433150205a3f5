"""The inputs of ``movcheck summary``: paths named on the command line or on stdin, directories
walked, and each input's kind decided from its name and first bytes.

A directory that is itself a machine (a snapshot: ``proc/``, ``sys/`` or the boot log; or a
sosreport) is one input; any other directory is walked, in name order, without following links
to directories. Nothing is read beyond the paths the user named.
"""
from __future__ import annotations

import os
from typing import IO, Iterable, Iterator

from probes import capture
from probes.root import sos_top
from probes.root import RootError

#: What an input is read as: an audit JSON file, or a root (snapshot, recording, sosreport, boot log).
JSON, ROOT = "json", "root"
#: A JSON audit larger than this is refused (the audit of 131,072 blocks is about 70 MiB).
MAX_JSON_BYTES = 512 << 20


def is_machine_dir(path: str) -> bool:
    """True when directory ``path`` is one machine (snapshot or sosreport), not a folder of inputs."""
    return any(os.path.exists(os.path.join(path, p)) for p in ("proc", "sys", capture.BOOT_LOG)) \
        or sos_top(path) is not None


def walk(paths: Iterable[str]) -> Iterator[str]:
    """Every input below ``paths``: files and machine directories as given, other directories walked."""
    for path in paths:
        if os.path.isdir(path) and not is_machine_dir(path):
            yield from _walk_dir(path)
        else:
            yield path


def _walk_dir(path: str) -> Iterator[str]:
    try:
        with os.scandir(path) as it:
            entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
    except OSError as exc:
        yield _Refused(path, f"cannot list the directory ({exc.strerror or exc})", 3)
        return
    for name, is_dir in entries:
        full = os.path.join(path, name)
        if is_dir and not is_machine_dir(full):
            yield from _walk_dir(full)
        elif not is_dir and os.path.isdir(full) and not is_machine_dir(full):
            yield _Refused(full, "a link to a directory, not followed", 2)
        else:
            yield full


class _Refused(str):
    """A path met in a walk that is no input (an unlistable directory, a link to a folder): judged
    as a bad input with ``why`` and exit status ``code``."""

    why: str
    code: int

    def __new__(cls, path: str, why: str = "refused", code: int = 2) -> "_Refused":
        self = super().__new__(cls, path)
        self.why, self.code = why, code
        return self


def listed(stream: IO[str]) -> Iterator[str]:
    """The paths of ``-``: one a line on ``stream``, blank lines skipped."""
    for line in stream:
        path = line.rstrip("\n")
        if path.strip():
            yield path


def kind_of(path: str) -> str:
    """:data:`JSON` for a ``.json`` file or one whose first non-blank byte is ``{``, else :data:`ROOT`;
    RootError when it cannot be read at all."""
    if isinstance(path, _Refused):
        raise RootError(f"{path}: {path.why}", path.code)
    if os.path.isdir(path):
        return ROOT
    if path.endswith(".json"):
        return JSON
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except FileNotFoundError:
        raise RootError(f"{path}: no such file", 3) from None
    except OSError as exc:
        raise RootError(f"{path}: {exc.strerror or exc}", 3) from None
    return JSON if head.lstrip()[:1] == b"{" else ROOT


def read_json_bytes(path: str) -> bytes:
    """The bytes of an audit JSON file; RootError (3) when it cannot be read, (2) when too large."""
    try:
        with open(path, "rb") as f:
            # sized by fstat: read(MAX + 1) would allocate MAX bytes for each file
            size = os.fstat(f.fileno()).st_size
            data = f.read() if size <= MAX_JSON_BYTES else f.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise RootError(f"{path}: no such file", 3) from None
    except IsADirectoryError:
        raise RootError(f"{path}: a directory, not an audit JSON file", 2) from None
    except OSError as exc:
        raise RootError(f"{path}: {exc.strerror or exc}", 3) from None
    if len(data) > MAX_JSON_BYTES:
        raise RootError(f"{path}: larger than an audit JSON file may be ({MAX_JSON_BYTES >> 20} MiB); refused")
    return data
