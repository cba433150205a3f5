"""observer.watch.live: the per-event check on a real recorded state, and the live loop on this host."""
from __future__ import annotations

import os
import time
from dataclasses import replace

import pytest

from observer.watch.trace import Observation
from observer.watch.live import Checker, Watcher
from probes.root import Root, open_root
from probes.sysfs_poll import Block, diff_states, read_state

RECORDING = os.path.join(os.path.dirname(__file__), "data", "vm-6.18.44.tar.gz")
BP = 32768  # pages per 128 MiB block in that recording


@pytest.fixture(scope="module")
def base():  # type: ignore[no-untyped-def]
    """The hotplug state of a real 6.18 VM (one node: DMA, DMA32, Normal up to pfn 0x640000)."""
    with open_root(RECORDING) as root:
        reading = read_state(root, "6.18.44")
    assert reading.ok, reading.describe()
    state = reading.value
    assert state.block_pages == BP and state.zones[(0, "Normal")].start_pfn == 0x100000
    return state


def obs(action: str, block: int, source: str = "uevent", **kw: object) -> Observation:
    return Observation(seq=0, t=0.0, source=source, action=action, block=block, start_pfn=block * BP,
                       nr_pages=BP, **kw)  # type: ignore[arg-type]


def test_contig_zones_online_outside_every_span(base) -> None:  # type: ignore[no-untyped-def]
    c = Checker(replace(base, auto_online="online"), "uevent")
    assert c.check(obs("add", 400, node=0)).status == "info"
    v = c.check(obs("online", 400, node=0, zone="Normal"))
    assert (v.status, v.expected, v.actual) == ("agree", "Normal", "Normal")
    assert "movable_node not set" in v.why and "auto-online" in v.why
    c.check(obs("add", 401, node=0))
    v = c.check(obs("online", 401, node=0, zone="Movable"))
    assert (v.status, v.expected) == ("disagree", "Normal")


def test_movable_node_makes_movable_the_default(base) -> None:  # type: ignore[no-untyped-def]
    c = Checker(replace(base, auto_online="online", movable_node=True), "uevent")
    c.check(obs("add", 400, node=0))
    assert c.check(obs("online", 400, node=0, zone="Movable")).status == "agree"


def test_spans_grow_and_shrink_like_the_kernel(base) -> None:  # type: ignore[no-untyped-def]
    c = Checker(base, "bpf")
    for b in (400, 401, 402):
        c.check(obs("add", b, source="bpf", node=0))
    assert c.check(obs("online", 400, source="bpf", node=0, zone="Movable", online_type="online_movable")).status == "agree"
    assert c.check(obs("online", 402, source="bpf", node=0, zone="Movable", online_type="online_movable")).status == "agree"
    span = c.state.zones[(0, "Movable")]
    assert (span.start_pfn, span.spanned, span.present) == (400 * BP, 3 * BP, 2 * BP)
    v = c.check(obs("online", 401, source="bpf", node=0, zone="Movable", online_type="online"))
    assert (v.status, v.expected) == ("agree", "Movable") and "range meets node 0's Movable span" in v.why
    assert c.check(obs("offline", 402, source="bpf", node=0, zone="Movable")).status == "agree"
    span = c.state.zones[(0, "Movable")]
    assert (span.start_pfn, span.spanned, span.present) == (400 * BP, 2 * BP, 2 * BP)


def test_failed_offline_is_a_finding_only_in_movable(base) -> None:  # type: ignore[no-untyped-def]
    c = Checker(base, "bpf")
    v = c.check(obs("offline", 300, source="bpf", node=0, zone="Movable", result=-16, error="EBUSY"))
    assert v.status == "disagree" and "EBUSY" in v.why
    v = c.check(obs("offline", 100, source="bpf", node=0, zone="Normal", result=-16, error="EBUSY"))
    assert v.status == "info"


def test_auto_movable_decides_for_the_whole_dimm(base) -> None:  # type: ignore[no-untyped-def]
    kernel = sum(z.present for (n, name), z in base.zones.items() if name in ("DMA", "DMA32", "Normal"))
    # ratio 1 %: one block fits under the limit, a 4-block DIMM does not
    assert BP <= kernel // 100 < 4 * BP
    state = replace(base, auto_online="online", online_policy="auto-movable", auto_movable_ratio=1)
    c = Checker(state, "uevent")
    for b in range(400, 404):
        c.check(obs("add", b, node=0))
    v = c.check(obs("online", 400, node=0, zone="Normal"))
    assert (v.status, v.expected) == ("agree", "Normal") and f"0 + {4 * BP} pages exceeds 1%" in v.why
    c = Checker(replace(state, auto_movable_ratio=301), "uevent")
    for b in range(400, 404):
        c.check(obs("add", b, node=0))
    assert c.check(obs("online", 400, node=0, zone="Movable")).expected == "Movable"


def test_unknown_online_type_checks_the_valid_zones(base) -> None:  # type: ignore[no-untyped-def]
    c = Checker(base, "uevent")  # auto_online offline: a later online was asked for by someone
    c.check(obs("add", 400, node=0))
    v = c.check(obs("online", 400, node=0, zone="Movable"))
    assert v.status == "agree" and "not visible to uevent" in v.why
    c.check(obs("add", 500, node=0))
    assert c.check(obs("online", 500, node=0, zone="DMA32")).status == "disagree"


def test_remove_of_an_online_block_and_lost_events(base) -> None:  # type: ignore[no-untyped-def]
    c = Checker(base, "uevent")
    assert c.check(obs("remove", 100)).status == "disagree"
    lost = Observation(seq=1, t=0.0, source="uevent", action="lost", detail={"count": 1})
    assert c.check(lost).status == "unknown"
    assert c.check(obs("online", 100, source="bpf", zone="Normal")) is None  # not the checked source


def test_diff_states() -> None:
    old = {1: Block("online", 0, "Normal"), 2: Block("online", 0, "Movable"), 3: Block("offline", 0, None)}
    new = {1: Block("offline", 0, None), 3: Block("online", 0, "Movable"), 4: Block("online", 1, "Normal")}
    got = [(c.action, c.block, c.zone) for c in diff_states(old, new)]
    assert got == [("offline", 1, "Normal"), ("offline", 2, "Movable"), ("remove", 2, None),
                   ("online", 3, "Movable"), ("add", 4, None), ("online", 4, "Normal")]


live = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/sys/devices/system/memory/memory0/uevent"),
                          reason="needs root and a kernel with memory block devices")


@live
def test_watch_here_counts_and_reconciles_a_uevent_overflow() -> None:
    seen: list[Observation] = []
    w = Watcher(Root("/"), seen.append, rcvbuf=1)
    try:
        if not os.path.exists("/sys/bus/event_source/devices/kprobe"):
            assert w.sources == ["uevent"] and any("no kprobes" in n for n in w.notes)
        for _ in range(200):
            with open("/sys/devices/system/memory/memory0/uevent", "w") as f:
                f.write("change")
        w.run(time.monotonic() + 0.5)
    finally:
        w.close()
    assert w.lost["uevent"] >= 1
    assert [o.action for o in seen] == ["lost"] and seen[0].detail["errno"] == "ENOBUFS"
    assert w.reconciled == 0  # nothing changed: the reconcile found the blocks as they were


def test_sysfs_polling_sees_block_changes(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The last resort: no uevent socket, sysfs re-read; a block appears online, another goes offline."""
    import observer.watch.live as watch
    from probes.root import unpack_recording

    unpack_recording(RECORDING, str(tmp_path))

    def no_netlink(*_a: object) -> None:
        raise OSError("netlink refused")

    monkeypatch.setattr(watch, "UeventListener", no_netlink)
    seen: list[Observation] = []
    w = Watcher(Root(tmp_path), seen.append, use_bpf=False, poll_interval=0.1)
    assert w.sources == ["poll"] and "netlink refused" in w.notes[0]
    checker = Checker(w.state, w.checked)
    mem = tmp_path / "sys/devices/system/memory"
    new = mem / "memory400"
    new.mkdir()
    (new / "node0").mkdir()
    (new / "state").write_text("online\n")
    (new / "valid_zones").write_text("Normal\n")
    (mem / "memory100" / "state").write_text("offline\n")
    (mem / "memory100" / "valid_zones").write_text("Normal Movable\n")
    w.run(time.monotonic() + 0.5)
    w.close()
    got = [(o.source, o.action, o.block, o.zone) for o in seen]
    assert got == [("poll", "offline", 100, "Normal"), ("poll", "add", 400, None), ("poll", "online", 400, "Normal")]
    verdicts = [checker.check(o) for o in seen]
    assert [v.status for v in verdicts] == ["agree", "info", "agree"]
