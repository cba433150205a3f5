"""A Debian guest that runs this checkout's ``movcheck watch`` under eBPF, driven from the host.

The guest mounts the host's filesystem read-only over virtio-9p (``multidevs=remap``)
and a writable share for the trace, chroots into the host's tree and runs
:file:`tests/watchlab/guest.sh`, which executes the shell snippets the host drops
into the share (``cmd-N`` -> ``out-N``, ``ack-N``), as shared/lab-notes.md describes.
Kernel debs come from :mod:`tests.lab.kernels`; the 9p modules are unpacked from
the same deb into the lab cache.
"""
from __future__ import annotations

import gzip
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.initramfs import newc
from tests.lab.kernels import CACHE, Kernel, KernelUnavailable, fetch_deb
from tests.lab.qemu import OVMF, Qmp

CHECKOUT = Path(__file__).resolve().parents[2]
MODULES = ("drivers/virtio/virtio_ring", "drivers/virtio/virtio", "drivers/virtio/virtio_pci_modern_dev",
           "drivers/virtio/virtio_pci_legacy_dev", "drivers/virtio/virtio_pci", "net/9p/9pnet",
           "net/9p/9pnet_virtio", "fs/netfs/netfs", "fs/fscache/fscache", "fs/9p/9p")


class GuestError(RuntimeError):
    pass


def _modules(kernel: Kernel) -> list[tuple[str, bytes]]:
    """(name, bytes) of the 9p/virtio modules ``kernel`` builds as modules, dependencies first.

    Unpacked once from the kernel's deb (7.x: its linux-modules deb) into the cache;
    ``.ko.xz`` (6.12, 7.x) are decompressed for busybox insmod. Modules the kernel builds
    in (6.12: virtio) are simply absent.
    """
    tree = CACHE / "watchlab" / kernel.release
    mods = tree / "lib/modules" / kernel.release / "kernel"
    if not mods.is_dir():
        deb = next((CACHE / "debs").glob(f"linux-image-{kernel.release}*.deb"), None)
        if deb is None:  # sid (7.x): the modules have a package of their own, under /usr
            try:
                deb = fetch_deb(f"linux-modules-{kernel.release}")
            except KernelUnavailable as exc:
                raise GuestError(f"no modules for {kernel.release}: {exc}") from None
        tree.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        if (tree / "usr/lib/modules").is_dir() and not (tree / "lib").exists():
            (tree / "lib").symlink_to("usr/lib")
    found: dict[str, bytes] = {}
    for m in MODULES:
        plain, packed = mods / f"{m}.ko", mods / f"{m}.ko.xz"
        if plain.exists():
            found[plain.stem] = plain.read_bytes()
        elif packed.exists():
            found[plain.stem] = lzma.decompress(packed.read_bytes())
    out: list[tuple[str, bytes]] = []

    def load(name: str) -> None:  # dependencies first, from each module's modinfo depends=
        if name not in found or any(n == f"{name}.ko" for n, _ in out):
            return
        m = re.search(rb"depends=([^\0]*)\0", found[name])
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            load(dep.replace("-", "_"))
        out.append((f"{name}.ko", found[name]))

    for name in list(found):
        load(name)
    return out


def _init(mods: list[str], cmdline_script: str) -> str:
    insmods = "\n".join(f"insmod /lib/{m} || echo @@INSMOD-FAILED {m}@@" for m in mods)
    return f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
dmesg -n 5  # warnings and worse (an oops, a hung task) still reach the console log
{insmods}
mkdir -p /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /newroot || echo @@NO9P@@
R=/newroot
mount -t proc proc $R/proc; mount -t sysfs sysfs $R/sys; mount -t devtmpfs devtmpfs $R/dev
mount -t debugfs debugfs $R/sys/kernel/debug; mount -t tracefs tracefs $R/sys/kernel/tracing
for d in tmp run var/tmp root; do mount -t tmpfs tmpfs $R/$d; done
mkdir -p $R/tmp/work
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none work $R/tmp/work || echo @@NOWORK@@
# A checkout under a directory the tmpfs mounts hide (CI may clone into /tmp) comes in on its own share.
case "{CHECKOUT}/" in /tmp/*|/run/*|/var/tmp/*|/root/*)
  mkdir -p $R{CHECKOUT}
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro src $R{CHECKOUT} || echo @@NOSRC@@;;
esac
echo @@GUEST-UP@@
chroot $R /bin/sh {cmdline_script} /tmp/work {CHECKOUT}
echo @@GUEST-DONE@@
poweroff -f
"""


class Guest:
    """One booted guest: :meth:`run` a shell snippet in it, :attr:`qmp` to plug DIMMs."""

    def __init__(self, kernel: Kernel, cmdline: str = "", timeout: float = 240, firmware: str = "seabios") -> None:
        self.kernel = kernel
        self.dir = Path(tempfile.mkdtemp(prefix="movcheck-watchlab-"))
        self.work = self.dir / "work"
        self.work.mkdir()
        os.chmod(self.work, 0o777)
        self.n = 0
        mods = _modules(kernel)
        entries = [("bin", 0o040755, b"", 0), ("dev", 0o040755, b"", 0), ("proc", 0o040755, b"", 0),
                   ("sys", 0o040755, b"", 0), ("lib", 0o040755, b"", 0),
                   ("dev/console", 0o020600, b"", (5 << 8) | 1),
                   ("bin/busybox", 0o100755, Path("/bin/busybox").read_bytes(), 0)]
        entries += [(f"lib/{name}", 0o100644, data, 0) for name, data in mods]
        entries.append(("init", 0o100755, _init([name for name, _ in mods],
                                                 str(CHECKOUT / "tests/watchlab/guest.sh")).encode(), 0))
        initrd = self.dir / "initrd.gz"
        initrd.write_bytes(gzip.compress(newc(entries), compresslevel=1, mtime=0))
        self.qmp_path = self.dir / "qmp.sock"
        self.console = self.dir / "console.log"
        args = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-nographic", "-no-reboot",
                *(["-bios", str(OVMF)] if firmware == "uefi" else []),
                "-smp", "2", "-m", "2G,slots=4,maxmem=6G",
                "-object", "memory-backend-ram,id=m0,size=1G", "-object", "memory-backend-ram,id=m1,size=1G",
                "-numa", "node,nodeid=0,cpus=0,memdev=m0", "-numa", "node,nodeid=1,cpus=1,memdev=m1",
                "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
                "-append", f"console=ttyS0 nokaslr {cmdline}".strip(),
                "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
                "-virtfs", f"local,path={self.work},mount_tag=work,security_model=none,multidevs=remap",
                "-virtfs", f"local,path={CHECKOUT},mount_tag=src,security_model=none,readonly=on,multidevs=remap",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=open(self.console, "wb"),
                                     stderr=subprocess.STDOUT)
        try:
            self._wait(lambda: (self.work / "ready").exists(), timeout, "guest shell ready")
            self.boot_seconds = time.monotonic() - self.t0
            self.qmp = Qmp(self.qmp_path)
        except BaseException:
            self.close()
            raise

    def _wait(self, cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not cond():
            if self.proc.poll() is not None:
                raise GuestError(f"guest exited before {what}: {self.console.read_text(errors='replace')[-1500:]}")
            if time.monotonic() > deadline:
                raise GuestError(f"timeout waiting for {what}: {self.console.read_text(errors='replace')[-1500:]}")
            time.sleep(0.2)

    def run(self, script: str, timeout: float = 300) -> str:
        """Run ``script`` with /bin/sh in the guest's chroot (cwd: the checkout); its output."""
        self.n += 1
        n = self.n
        tmp = self.work / f".cmd-{n}"
        tmp.write_text(script)
        tmp.rename(self.work / f"cmd-{n}")
        self._wait(lambda: (self.work / f"ack-{n}").exists(), timeout, f"command {n}")
        return (self.work / f"out-{n}").read_text(errors="replace")

    def close(self) -> None:
        """Let the guest power off (kill it after 30 s) and remove the scratch directory."""
        if self.proc.poll() is None:
            (self.work / "exit").write_text("")
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
