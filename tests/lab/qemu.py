"""Boot one scenario under QEMU (TCG), drive its runtime steps over QMP, cut out the snapshot.

Guest/host handshake for a runtime step: the guest prints ``@@MOVCHECK-STEP <n> host@@``;
the host sends the QMP commands, waits for their effect (DEVICE_DELETED for a removal),
and answers ``ok ...`` or ``failed ...`` on the serial console, which the guest ``read``s
before it polls sysfs for the memory blocks to appear or go.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from probes.srat import encode_srat
from tests.lab.initramfs import BEGIN_MARK, END_MARK, STEP_MARK, build_initrd
from tests.lab.kernels import Kernel
from tests.lab.scenario import Scenario

#: nokaslr: see shared/lab-notes.md (KASLR trap). no_timer_check: under a loaded TCG host the
#: IO-APIC timer check can fail and panic ("IO-APIC + timer doesn't work"), seen in the lab.
#: panic=-1: a panic reboots at once, which -no-reboot turns into QEMU's exit, so the TCG
#: 'Oops: int3' flake (seen on 6.12 and 7.2) costs a retry, not the whole boot timeout.
BASE_CMDLINE = "console=ttyS0 nokaslr no_timer_check log_buf_len=4M panic=-1"
#: Debian's ``ovmf`` package: UEFI for the pc machine as one flash image (code and variables),
#: loaded read-only with -bios; -kernel/-initrd/-append still work (its QEMU loader boots them).
OVMF = Path("/usr/share/ovmf/OVMF.fd")


class BootError(RuntimeError):
    """A boot that did not produce a snapshot (timeout, crash, corrupt transfer)."""


@dataclass
class Boot:
    snapshot: bytes  # the guest's tar.gz, as sent
    seconds: float
    retries: int
    qemu_args: list[str]
    firmware: str = "seabios"
    host_log: list[str] = field(default_factory=list)  # "step N: host: ..." lines
    console: str = ""


def _mib(n: int) -> str:
    return f"{n >> 20}M"


def qemu_args(sc: Scenario, kernel: Kernel, initrd: Path, qmp: Path, firmware: str = "seabios") -> list[str]:
    """The full QEMU command line for ``sc`` under ``firmware`` (seabios: QEMU's default; uefi: OVMF)."""
    if firmware not in ("seabios", "uefi"):
        raise ValueError(f"unknown firmware {firmware!r}")
    if firmware == "uefi" and not OVMF.exists():
        raise BootError(f"{OVMF} missing: install Debian's ovmf package (make lab-deps)")
    args = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-nographic", "-no-reboot",
            *(["-bios", str(OVMF)] if firmware == "uefi" else []),
            "-smp", str(sc.smp), "-m", _mib(sc.memory) + (f",slots={sc.slots},maxmem={_mib(sc.maxmem)}"
                                                          if sc.slots else ""),
            "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd),
            "-append", " ".join(filter(None, [BASE_CMDLINE, sc.cmdline])),
            "-qmp", f"unix:{qmp},server=on,wait=off"]
    for nid, node in enumerate(sc.nodes):
        spec = f"node,nodeid={nid}"
        if node.memory:
            args += ["-object", f"memory-backend-ram,id=m{nid},size={_mib(node.memory)}"]
            spec += f",memdev=m{nid}"
        for cpu in node.cpus:
            spec += f",cpus={cpu}"
        args += ["-numa", spec]
    for d in sc.dimms:
        args += ["-object", f"memory-backend-ram,id=mem-{d.id},size={_mib(d.size)}",
                 "-device", f"pc-dimm,id={d.id},memdev=mem-{d.id},node={d.node}"]
    return args


class Qmp:
    """A minimal QMP client (one command at a time; events are kept)."""

    def __init__(self, path: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events: list[dict] = []
        self._recv()  # greeting
        self.cmd("qmp_capabilities")

    def _recv(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BootError("QMP socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name: str, **arguments: object) -> dict:
        self.sock.sendall(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        while True:
            msg = self._recv()
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def wait_event(self, name: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.events:
                if ev["event"] == name:
                    self.events.remove(ev)
                    return ev
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                self.events.append(self._recv())
            except (socket.timeout, TimeoutError):
                break
        return None


def _run_step(qmp: Qmp, sc: Scenario, n: int, log: list[str]) -> str:
    step = sc.steps[n - 1]
    dimm = step.dimm
    assert dimm is not None
    if step.action == "hotadd":
        replies = [qmp.cmd("object-add", **{"qom-type": "memory-backend-ram", "id": f"mem-{dimm.id}",
                                            "size": dimm.size}),
                   qmp.cmd("device_add", driver="pc-dimm", id=dimm.id, memdev=f"mem-{dimm.id}", node=dimm.node)]
        bad = [r["error"]["desc"] for r in replies if "error" in r]
        result = f"failed {bad[0]}" if bad else "ok"
        log.append(f"step {n}: host: object-add + device_add pc-dimm {dimm.id} size {dimm.size} node {dimm.node}: "
                   f"{result}")
        return result
    reply = qmp.cmd("device_del", id=dimm.id)
    if "error" in reply:
        result = f"failed {reply['error']['desc']}"
    else:
        ev = qmp.wait_event("DEVICE_DELETED", 60)
        result = "ok DEVICE_DELETED" if ev else "failed no DEVICE_DELETED within 60 s (guest did not eject)"
    log.append(f"step {n}: host: device_del {dimm.id}: {result}")
    return result


def cut_snapshot(console: str) -> bytes:
    """The tar.gz between the markers of a console log; raises BootError if absent or corrupt."""
    start = console.rfind(BEGIN_MARK)
    if start < 0:
        raise BootError("no snapshot on the console")
    m = re.compile(re.escape(END_MARK) + r" (\d+) ([0-9a-f]{32})@@").search(console, start)
    if not m:
        raise BootError("snapshot transfer was cut off")
    body = console[start + len(BEGIN_MARK):m.start()]
    b64 = "".join(line.strip() for line in body.splitlines() if re.fullmatch(r"[A-Za-z0-9+/=]+", line.strip()))
    data = base64.b64decode(b64)
    if len(data) != int(m.group(1)) or hashlib.md5(data).hexdigest() != m.group(2):
        raise BootError(f"snapshot corrupt: got {len(data)} bytes, guest sent {m.group(1)}")
    return data


def boot_once(sc: Scenario, kernel: Kernel, timeout: float, workdir: Path, firmware: str = "seabios") -> Boot:
    """One boot; raises BootError on timeout or a missing/corrupt snapshot."""
    initrd = workdir / "initrd"
    initrd.write_bytes(build_initrd(sc, encode_srat(sc.srat) if sc.srat else None))
    qmp_path = workdir / "qmp.sock"
    args = qemu_args(sc, kernel, initrd, qmp_path, firmware)
    started = time.monotonic()
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdin and proc.stdout
    out: list[str] = []
    host_log: list[str] = []
    marks: set[int] = set()
    ended: list[bool] = []  # the console reached EOF: QEMU is gone or going
    cond = threading.Condition()

    def reader() -> None:
        pending = ""
        for raw in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
            text = raw.decode("latin-1")
            with cond:
                out.append(text)
                pending += text
                marks.update(int(m.group(1)) for m in re.finditer(re.escape(STEP_MARK) + r" (\d+) host@@", pending))
                pending = pending[-200:]
                cond.notify_all()
        with cond:
            ended.append(True)
            cond.notify_all()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    qmp: Qmp | None = None
    try:
        for n in range(1, len(sc.steps) + 1):
            if sc.steps[n - 1].action == "write":  # the guest does these alone
                continue
            with cond:
                # EOF on the console comes just before the exit: waiting on the exit alone could
                # miss its only notification and sit out the whole timeout.
                if not cond.wait_for(lambda: n in marks or bool(ended) or proc.poll() is not None,
                                     timeout=max(1, timeout - (time.monotonic() - started))):
                    raise BootError(f"timeout waiting for step {n}")
                if n not in marks:
                    raise BootError(f"QEMU exited before step {n}")
            qmp = qmp or Qmp(qmp_path)
            result = _run_step(qmp, sc, n, host_log)
            proc.stdin.write(result.encode() + b"\n")
            proc.stdin.flush()
        try:
            proc.wait(timeout=max(1, timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            raise BootError(f"timeout after {timeout:.0f} s") from None
    finally:
        if qmp is not None:
            qmp.sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        thread.join(5)
        (workdir / "console.log").write_text("".join(out))
    console = "".join(out)
    # Paths that change from boot to boot are written as names, so recordings stay stable.
    stable = [a.replace(str(kernel.vmlinuz), kernel.vmlinuz.name).replace(str(workdir) + "/", "")
              for a in args]
    return Boot(cut_snapshot(console), time.monotonic() - started, 0, stable, firmware, host_log, console)


def boot(sc: Scenario, kernel: Kernel, retries: int = 1, firmware: str = "seabios") -> Boot:
    """Boot ``sc`` on ``kernel`` under ``firmware`` with a timeout and up to ``retries`` retries
    (lab-notes: rare TCG hangs)."""
    errors = []
    for attempt in range(retries + 1):
        with tempfile.TemporaryDirectory(prefix=f"movcheck-{sc.name}-") as tmp:
            try:
                result = boot_once(sc, kernel, sc.timeout, Path(tmp), firmware)
            except (BootError, OSError, ValueError) as exc:
                errors.append(f"attempt {attempt + 1}: {exc}")
                keep = Path(os.environ.get("MOVCHECK_LAB_FAILED", tempfile.gettempdir())) / \
                    f"movcheck-failed-{sc.name}-{kernel.series}-{firmware}-{attempt + 1}.log"
                if (Path(tmp) / "console.log").exists():
                    keep.write_text((Path(tmp) / "console.log").read_text())
                continue
        result.retries = attempt
        return result
    raise BootError(f"{sc.name} on {kernel.release}: " + "; ".join(errors))
