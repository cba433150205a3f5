"""Real boot logs turned into the forms people hand over, as the real tools print them.

``dmesg`` text (``[    0.000000] msg``) in; out: ``dmesg -t``, ``journalctl -k`` (short,
short-precise, short-monotonic, short-iso, short-full), an rsyslog kern.log, a mail quote
(``> ``, nested ``> > ``) and lines wrapped with textwrap at 72 or 80 columns.
"""
from __future__ import annotations

import re
import textwrap
from datetime import datetime, timedelta, timezone
from typing import Callable

_STAMP = re.compile(r"\[\s*(\d+)\.(\d+)\] ?")
BOOT = datetime(2026, 12, 2, 4, 0, 41, tzinfo=timezone.utc)
HOST = "labhost"


def records(dmesg: str) -> list[tuple[float, str]]:
    """(seconds since boot, message) of each line of a dmesg text."""
    out = []
    for line in dmesg.splitlines():
        m = _STAMP.match(line)
        out.append((int(m.group(1)) + int(m.group(2)) / 1e6, line[m.end():]) if m else (0.0, line))
    return out


def no_stamps(dmesg: str) -> str:
    """``dmesg -t``."""
    return "".join(f"{msg}\n" for _, msg in records(dmesg))


def journal(dmesg: str, output: str = "short", boot_id: str = "") -> str:
    """``journalctl -k -o OUTPUT`` (systemd's output_short formats; ``-- Boot ID --`` before a boot
    when ``boot_id`` is given, as journalctl prints between boots)."""
    stamp: dict[str, Callable[[float], str]] = {
        "short": lambda t: (BOOT + timedelta(seconds=t)).strftime("%b %d %H:%M:%S"),
        "short-precise": lambda t: (BOOT + timedelta(seconds=t)).strftime("%b %d %H:%M:%S.%f"),
        "short-iso": lambda t: (BOOT + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S%z"),
        "short-full": lambda t: (BOOT + timedelta(seconds=t)).strftime("%a %Y-%m-%d %H:%M:%S UTC"),
        "short-monotonic": lambda t: f"[{int(t):5d}.{round(t % 1 * 1e6):06d}]",
    }
    head = f"-- Boot {boot_id} --\n" if boot_id else ""
    return head + "".join(f"{stamp[output](t)} {HOST} kernel: {msg}\n" for t, msg in records(dmesg))


def kern_log(dmesg: str) -> str:
    """An rsyslog /var/log/kern.log (traditional format: the day padded with a space, the
    kernel's own timestamp kept in the message), with a line of another program between."""
    lines = [f"{(BOOT + timedelta(seconds=t)).strftime('%b %e %H:%M:%S')} {HOST} kernel: {line}"
             for (t, _), line in zip(records(dmesg), dmesg.splitlines())]
    lines.insert(3, f"{BOOT.strftime('%b %e %H:%M:%S')} {HOST} rsyslogd: [origin software=\"rsyslogd\"] start")
    return "\n".join(lines) + "\n"


def quote(text: str, depth: int = 1) -> str:
    """A mail reply's quote: each line prefixed with '> ' per level (an empty line gets '>')."""
    prefix = "> " * depth
    body = "".join((prefix + line).rstrip() + "\n" for line in text.splitlines())
    return f"On Wed, Dec 2, 2026 someone wrote:\n{body}\nThanks, see above.\n"


def wrap(text: str, width: int) -> str:
    """Every line wrapped with textwrap at ``width`` columns, as a mail client or pager does."""
    return "".join(piece + "\n" for line in text.splitlines() for piece in (textwrap.wrap(line, width) or [""]))


#: Form name -> (transform, the form movcheck should name).
FORMS: dict[str, tuple[Callable[[str], str], str]] = {
    "dmesg": (lambda t: t, "dmesg"),
    "dmesg-t": (no_stamps, "dmesg without timestamps"),
    "journal": (journal, "journalctl -k export"),
    "journal-precise": (lambda t: journal(t, "short-precise"), "journalctl -k export"),
    "journal-monotonic": (lambda t: journal(t, "short-monotonic"), "journalctl -o short-monotonic"),
    "journal-iso": (lambda t: journal(t, "short-iso"), "journalctl -o short-iso"),
    "journal-full": (lambda t: journal(t, "short-full"), "journalctl -o short-full"),
    "kern.log": (kern_log, "syslog file"),
    "quoted": (quote, "dmesg; quoted in a mail"),
    "quoted-journal-2": (lambda t: quote(journal(t), 2), "journalctl -k export; quoted in a mail at depth 2"),
    "wrap72": (lambda t: wrap(t, 72), "dmesg"),
    "wrap80": (lambda t: wrap(t, 80), "dmesg"),
    "journal-wrap72": (lambda t: wrap(journal(t), 72), "journalctl -k export"),
    "quoted-wrap72": (lambda t: quote(wrap(t, 72)), "dmesg; quoted in a mail"),
    "dmesg-t-wrap80": (lambda t: wrap(no_stamps(t), 80), "dmesg without timestamps"),
}
