"""The running kernel's release, from ``/proc/sys/kernel/osrelease`` (``uname -r``)."""
from __future__ import annotations

import re

from probes.records import frozen
from probes.reading import ParseError, Reading
from probes.root import Root

OSRELEASE_PATH = "proc/sys/kernel/osrelease"
_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?(\S*)")


@frozen
class KernelRelease:
    """``6.1.0-26-amd64`` → version (6, 1, 0), local part ``-26-amd64``."""

    raw: str
    major: int
    minor: int
    patch: int
    local: str

    @property
    def version(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)


def parse_release(text: str) -> KernelRelease:
    """Decode a release string; raises ParseError when it does not start ``N.N``."""
    raw = text.strip()
    m = _RELEASE.fullmatch(raw)
    if not m:
        raise ParseError(f"{raw[:60]!r} is not a kernel release (N.N[.N][local])")
    return KernelRelease(raw, int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), m.group(4))


def read_release(root: Root) -> Reading[KernelRelease]:
    """The release from ``proc/sys/kernel/osrelease``."""
    return root.read_text(OSRELEASE_PATH).map(parse_release)
