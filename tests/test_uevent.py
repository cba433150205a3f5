"""probes.uevent: the pure datagram parser on captured datagrams, and the live listener."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from probes.reading import ParseError
from probes.uevent import UeventListener, parse_uevent

DUMPS = sorted((Path(__file__).parent / "data" / "uevent").glob("*.dump"))
BLOCK = "/sys/devices/system/memory/memory0/uevent"


def load_dump(path: Path) -> tuple[bytes, dict]:
    """A fixture: '#' comment lines (one is '# expect: JSON'), then the datagram in hex."""
    expect, hexlines = None, []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            expect = json.loads(line[len("# expect: "):])
        elif line and not line.startswith("#"):
            hexlines.append(line.strip())
    assert expect is not None, path
    return bytes.fromhex("".join(hexlines)), expect


def test_fixtures_exist() -> None:
    assert len(DUMPS) >= 3


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: p.stem)
def test_parse_captured(path: Path) -> None:
    raw, expect = load_dump(path)
    ev = parse_uevent(raw)
    got = {"action": ev.action, "devpath": ev.devpath, "env": dict(ev.env), "block": ev.block,
           "synthetic": ev.synthetic}
    assert got == expect
    assert ev.subsystem == "memory" and ev.seqnum == int(expect["env"]["SEQNUM"])


@pytest.mark.parametrize("raw, message", [
    (b"libudev\0\xfe\xed\xca\xfe" + b"\0" * 32, "libudev"),
    (b"add@/devices/system/memory/memory1\0ACTION=add", "NUL-terminated"),
    (b"add/devices/system/memory/memory1\0ACTION=add\0", "ACTION@/DEVPATH"),
    (b"add@/devices/system/memory/memory1\0ACTION\0", "KEY=VALUE"),
    (b"add@/devices/system/memory/memory1\0ACTION=remove\0", "disagrees"),
    (b"add@/devices/\xff\0", "UTF-8"),
    (b"add@/d\0" + b"A=" + b"x" * 3000 + b"\0", "exceeds"),
])
def test_parse_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_uevent(raw)


def test_block_only_for_memory_subsystem() -> None:
    ev = parse_uevent(b"add@/devices/system/memory/memory7\0SUBSYSTEM=cpu\0")
    assert ev.block is None
    assert parse_uevent(b"add@/devices/system/memory/memory7\0SUBSYSTEM=memory\0").block == 7


live = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(BLOCK),
                          reason="needs root and a kernel with memory block devices")


@live
def test_listener_receives_a_real_uevent() -> None:
    listener = UeventListener()
    try:
        with open(BLOCK, "w") as f:
            f.write("change")
        deadline = time.monotonic() + 5
        events = []
        while not events and time.monotonic() < deadline:
            events = [e for _, e in listener.receive()[0] if e.block == 0 and e.action == "change"]
            time.sleep(0.05)
        assert events and events[0].synthetic
    finally:
        listener.close()


@live
def test_listener_counts_enobufs() -> None:
    listener = UeventListener(rcvbuf=1)  # the kernel rounds up to its minimum: a few datagrams
    try:
        for _ in range(200):
            with open(BLOCK, "w") as f:
                f.write("change")
        events, overflows = listener.receive()
        assert overflows >= 1 and len(events) < 200
    finally:
        listener.close()
