"""/dev/kmsg: every record of the kernel log, read without blocking, as dmesg-style lines."""
from __future__ import annotations

import errno
import os
import re

from probes.reading import Reading, Status

KMSG_PATH = "dev/kmsg"
#: Stop reading /dev/kmsg after this many bytes (log_buf_len is at most a few tens of MiB).
KMSG_MAX_BYTES = 256 << 20


def read_kmsg(path: str) -> Reading[str]:
    """Every record of /dev/kmsg, formatted ``[%5d.%06d] message``, read until EAGAIN."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return Reading(KMSG_PATH, Status.ABSENT, None, "absent")
    except PermissionError as exc:
        return Reading(KMSG_PATH, Status.DENIED, None, f"{exc.strerror} (needs root)")
    except OSError as exc:
        return Reading(KMSG_PATH, Status.MALFORMED, None, exc.strerror or str(exc))
    lines: list[str] = []
    total = 0
    try:
        while total < KMSG_MAX_BYTES:
            try:
                record = os.read(fd, 1 << 16)  # one record per read
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # overwritten while reading: the next read resumes
                    continue
                if exc.errno in (errno.EACCES, errno.EPERM):
                    return Reading(KMSG_PATH, Status.DENIED, None, f"{exc.strerror} (needs root)")
                return Reading(KMSG_PATH, Status.MALFORMED, None, exc.strerror or str(exc))
            if not record:
                break
            total += len(record)
            lines.append(kmsg_record_to_dmesg(record))
    finally:
        os.close(fd)
    return Reading(KMSG_PATH, Status.OK, "".join(lines))


_KMSG_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")


def kmsg_record_to_dmesg(record: bytes) -> str:
    """One /dev/kmsg record (``pri,seq,usec,flags;message`` + `` KEY=value`` lines) as a dmesg line.

    The kernel escapes unprintable bytes and backslashes as ``\\xNN`` (kernel/printk/printk.c
    msg_add_ext_text); they are restored, as dmesg does.
    """
    head, _, rest = record.partition(b";")
    raw = _KMSG_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), rest.split(b"\n", 1)[0])
    message = raw.decode("utf-8", "backslashreplace")
    fields = head.split(b",")
    try:
        usec = int(fields[2])
    except (IndexError, ValueError):
        return message + "\n"
    return f"[{usec // 1_000_000:5d}.{usec % 1_000_000:06d}] {message}\n"
