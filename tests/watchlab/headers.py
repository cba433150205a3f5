"""Kernel headers for bcc in the guest, without installing anything on the host.

bcc compiles against ``/lib/modules/<release>/build`` or, when set, the tree named by
``BCC_KERNEL_SOURCE``. Debian splits headers into ``linux-headers-<release>`` and
``linux-headers-<base>-common``; both debs are downloaded through the lab's private apt
configuration (:mod:`tests.lab.kernels`), unpacked into the lab cache and merged into
one tree of symlinks (``-amd64`` over ``-common``), which the guest sees over 9p.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.lab.kernels import CACHE, Kernel, _apt, _refresh_lists


class HeadersUnavailable(RuntimeError):
    pass


def headers_tree(kernel: Kernel) -> Path:
    """A directory bcc can use as BCC_KERNEL_SOURCE for ``kernel``."""
    installed = Path(f"/lib/modules/{kernel.release}/build")
    if installed.is_dir():
        return installed
    base = CACHE / "watchlab" / "headers" / kernel.release
    merged = base / "merged"
    if (merged / "include" / "generated").exists():
        return merged
    debs = CACHE / "debs"
    arch = f"linux-headers-{kernel.release}"
    _refresh_lists()
    shown = subprocess.run(_apt("show", arch), capture_output=True, text=True).stdout
    m = re.search(r"^Depends:.*?(linux-headers-[\w.+~-]+-common)\b", shown, re.M)
    if m is None:
        raise HeadersUnavailable(f"{arch}: not in the archive or no -common dependency")
    for pkg in (arch, m.group(1)):
        if not any(debs.glob(f"{pkg}_*.deb")):
            proc = subprocess.run(_apt("download", pkg), cwd=debs, capture_output=True, text=True)
            if proc.returncode != 0:
                raise HeadersUnavailable(f"apt-get download {pkg}: {proc.stderr.strip()[-300:]}")
    unpacked = base / "unpacked"
    unpacked.mkdir(parents=True, exist_ok=True)
    for pkg in (arch, m.group(1)):
        deb = next(debs.glob(f"{pkg}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    src = unpacked / "usr" / "src"
    common = next(src.glob("linux-headers-*-common"))
    partial = base / "merged.partial"
    subprocess.run(["rm", "-rf", str(partial)], check=True)
    partial.mkdir(parents=True)
    subprocess.run(["cp", "-rs", f"{common}/.", str(partial)], check=True)
    subprocess.run(["cp", "-rsf", "--remove-destination", f"{src / arch}/.", str(partial)], check=True)
    partial.rename(merged)
    return merged
