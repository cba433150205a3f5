"""The captured snapshot of the project's own VM (Linux 6.18.44, one node, no SRAT), as test data."""
from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from probes.root import Root, unpack_recording

DATA = Path(__file__).parent / "data"
VM_TAR = DATA / "vm-6.18.44.tar.gz"


@functools.lru_cache(maxsize=None)
def _unpacked(archive: str) -> str:
    """Unpack ``archive`` once per test session (through the hostile-tar-safe unpacker)."""
    tmp = tempfile.mkdtemp(prefix="movcheck-test-")
    atexit.register(shutil.rmtree, tmp, True)
    unpack_recording(archive, tmp)
    return tmp


@contextlib.contextmanager
def vm_root() -> Iterator[Root]:
    """A Root over the unpacked VM capture (shared: tests must not write into it)."""
    yield Root(_unpacked(str(VM_TAR)))
