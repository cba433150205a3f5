"""The captured snapshot of the project's own VM (Linux 6.18.44, one node, no SRAT), as test data."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from probes.root import Root, open_root

DATA = Path(__file__).parent / "data"
VM_TAR = DATA / "vm-6.18.44.tar.gz"


@contextlib.contextmanager
def vm_root() -> Iterator[Root]:
    """A Root over the unpacked VM capture."""
    with open_root(str(VM_TAR)) as root:
        yield root
