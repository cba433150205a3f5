"""The guest's initrd: busybox-static, a generated /init, and an optional injected SRAT.

/init mounts proc, sysfs and devtmpfs, runs the scenario's runtime steps, copies exactly
the paths of :mod:`probes.capture` into a tree, and prints it as a base64 tar.gz between
markers on the console, then powers off. An injected SRAT travels in an uncompressed cpio
prepended to the initrd at ``kernel/firmware/acpi/srat.aml``, where the kernel's ACPI
table upgrade (drivers/acpi/tables.c ``acpi_table_upgrade``) finds it.
"""
from __future__ import annotations

import gzip
import re
import shlex
from pathlib import Path

from probes import capture
from tests.lab.scenario import Scenario

BUSYBOX = Path("/bin/busybox")
SNAP = "/snap"
STEP_MARK = "@@MOVCHECK-STEP"  # guest -> host: "@@MOVCHECK-STEP <n> <action>@@"
BEGIN_MARK = "@@MOVCHECK-SNAPSHOT-BEGIN@@"
END_MARK = "@@MOVCHECK-SNAPSHOT-END"  # + " <bytes> <md5>@@"
HOST_WAIT = 180  # seconds the guest waits for the host's reply to a step
WRITE_WAIT = 20  # seconds a sysfs state write may take before the guest ends it


def newc(entries: list[tuple[str, int, bytes, int]]) -> bytes:
    """An uncompressed ``newc`` cpio of (name, mode, data, rdev) entries, with its trailer."""
    out = bytearray()
    for ino, (name, mode, data, rdev) in enumerate([*entries, ("TRAILER!!!", 0, b"", 0)], start=1):
        raw = name.encode() + b"\0"
        fields = (ino if name != "TRAILER!!!" else 0, mode, 0, 0, 1, 0, len(data), 0, 0,
                  rdev >> 8, rdev & 0xFF, len(raw), 0)
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + raw
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


_DIR, _FILE, _LINK, _CHR = 0o040755, 0o100755, 0o120777, 0o020600


def acpi_upgrade_cpio(srat: bytes) -> bytes:
    """The uncompressed cpio the kernel scans for replacement ACPI tables."""
    return newc([("kernel", _DIR, b"", 0), ("kernel/firmware", _DIR, b"", 0),
                 ("kernel/firmware/acpi", _DIR, b"", 0),
                 ("kernel/firmware/acpi/srat.aml", 0o100644, srat, 0)])


def _glob(pattern: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_./*-]+", pattern):
        raise ValueError(f"capture path {pattern!r} needs shell quoting the lab does not do")
    return "/" + pattern


def capture_script() -> str:
    """Shell lines copying :mod:`probes.capture`'s paths below $SNAP (sysfs files via cat)."""
    lines = []
    for path in capture.FILES:
        lines.append(f"cpf {shlex.quote(path)}")
    for pattern in capture.PATTERNS:
        fn = "cpl" if pattern.endswith("@") else "cpf"
        lines.append(f"for p in {_glob(pattern.rstrip('@'))}; do {fn} \"${{p#/}}\"; done")
    lines.append(f"mkdir -p {SNAP}/{capture.BOOT_LOG.rsplit('/', 1)[0]}; dmesg > {SNAP}/{capture.BOOT_LOG}")
    return "\n".join(lines)


def _step_script(n: int, sc: Scenario) -> str:
    step = sc.steps[n - 1]
    if step.action in ("hotadd", "hotremove"):
        size = step.dimm.size if step.dimm else 0
        sign = "+" if step.action == "hotadd" else "-"
        detail = f"{step.action} {step.dimm.id}" + (f" {size} node {step.dimm.node}" if size else "")
        return (f"host_step {n} {shlex.quote(detail)} {sign}{size}")
    blocks = " ".join(str(b) for b in step.blocks)
    return f"write_blocks {n} {shlex.quote(step.value)} {blocks}"


GUEST_FUNCS = r"""
log() { echo "$*" >> $SNAP/lab/steps.log; }
nblocks() { ls -d /sys/devices/system/memory/memory[0-9]* 2>/dev/null | wc -l; }
cpf() { [ -f "/$1" ] || return 0; mkdir -p "$SNAP/${1%/*}"; cat "/$1" > "$SNAP/$1" 2>/dev/null || rm -f "$SNAP/$1"; }
cpl() { [ -L "/$1" ] || return 0; mkdir -p "$SNAP/${1%/*}"; ln -s "$(readlink "/$1")" "$SNAP/$1"; }
# host_step N DETAIL [+-]BYTES: ask the host (console marker) to act over QMP, wait for its
# reply on the console, then for the memory blocks to appear (hot-add) or go (hot-remove).
host_step() {
  before=$(nblocks); bs=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))
  echo "$STEP_MARK $1 host@@"
  reply=timeout; read -t $HOST_WAIT reply
  want=$before; case "$3" in +*) want=$((before + ${3#+} / bs));; esac
  i=0; now=$(nblocks)
  while [ $i -lt 600 ]; do
    now=$(nblocks)
    case "$3" in +*) [ $now -ge $want ] && break;; *) [ $now -lt $before ] && break;; esac
    case "$reply" in ok*) ;; *) break;; esac
    sleep 0.1; i=$((i + 1))
  done
  sleep 1; now=$(nblocks)
  if case "$3" in +*) [ $now -ge $want ];; *) [ $now -lt $before ];; esac; then r=ok; else r=FAILED; fi
  log "step $1: guest: $2: host says '$reply'; memory blocks $before -> $now: $r"
}
write_blocks() {
  n=$1; v=$2; shift 2
  for b in "$@"; do
    f=/sys/devices/system/memory/memory$b/state
    if [ ! -e $f ]; then log "step $n: guest: echo $v > memory$b/state: FAILED (no such block)"; continue; fi
    # Bounded: 7.x may retry a refused offline for a long time; the fatal signal ends the write.
    timeout $WRITE_WAIT sh -c "echo $v > $f" 2>/tmp/err; rc=$?
    if [ $rc = 0 ]; then r=ok
    elif [ $rc -ge 124 ]; then r="FAILED (timeout after $WRITE_WAIT s)"
    else r="FAILED ($(cat /tmp/err | tr -d '\n'))"; fi
    log "step $n: guest: echo $v > memory$b/state: $r (now $(cat $f), zones: $(cat /sys/devices/system/memory/memory$b/valid_zones 2>/dev/null))"
  done
}
"""


def guest_init(sc: Scenario) -> str:
    """The /init script for ``sc``."""
    steps = "\n".join(_step_script(n, sc) for n in range(1, len(sc.steps) + 1))
    return f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
dmesg -n 1
SNAP={SNAP}; STEP_MARK={STEP_MARK}; HOST_WAIT={HOST_WAIT}; WRITE_WAIT={WRITE_WAIT}
mkdir -p $SNAP/lab; : > $SNAP/lab/steps.log
{GUEST_FUNCS}
{steps}
{capture_script()}
cd $SNAP && tar -czf /tmp/snap.tgz . && cd /
echo {BEGIN_MARK}
base64 /tmp/snap.tgz
echo "{END_MARK} $(wc -c < /tmp/snap.tgz) $(md5sum < /tmp/snap.tgz | cut -d' ' -f1)@@"
poweroff -f
"""


def build_initrd(sc: Scenario, srat: bytes | None) -> bytes:
    """The initrd bytes: [uncompressed ACPI-upgrade cpio] + gzip'd busybox cpio."""
    main = newc([("bin", _DIR, b"", 0), ("dev", _DIR, b"", 0), ("proc", _DIR, b"", 0),
                 ("sys", _DIR, b"", 0), ("tmp", _DIR, b"", 0),
                 ("dev/console", _CHR, b"", (5 << 8) | 1),
                 ("bin/busybox", _FILE, BUSYBOX.read_bytes(), 0),
                 ("bin/sh", _LINK, b"busybox", 0),
                 ("init", _FILE, guest_init(sc).encode(), 0)])
    packed = gzip.compress(main, compresslevel=6, mtime=0)
    return (acpi_upgrade_cpio(srat) if srat is not None else b"") + packed

