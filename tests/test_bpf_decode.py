"""probes.bpf: decoding of struct event records and the choice of attach points."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from probes.bpf.attach import KPROBES, SOURCE, plan
from probes.bpf.decode import EVENT, decode_event
from probes.reading import ParseError

TRACES = sorted((Path(__file__).parent / "data" / "watch").glob("*.jsonl"))


def pack(**kw: object) -> bytes:
    f = dict(ts=10, dur=2500, start=0x140000, nr=0x8000, ret=0, migrated=0, mfailed=0, gmax=0x20000,
             gkernel=0, gmovable=0x8000, kind=2, nid=1, otype=3, checks=0, failures=0, pid=77, gdyn=0, gnid=1,
             zone=b"Movable", comm=b"sh")
    f.update(kw)
    return EVENT.pack(f["ts"], f["dur"], f["start"], f["nr"], f["ret"], f["migrated"], f["mfailed"],
                      f["gmax"], f["gkernel"], f["gmovable"], f["kind"], f["nid"], f["otype"], f["checks"],
                      f["failures"], f["pid"], f["gdyn"], f["gnid"], f["zone"], f["comm"])


def test_struct_matches_the_c_source() -> None:
    body = re.search(r"struct event \{(.*?)\};", SOURCE.read_text(), re.S).group(1)  # type: ignore[union-attr]
    sizes = {"u64": 8, "s64": 8, "u32": 4, "s32": 4}
    total = sum(sizes.get(line.split()[0], 0) for line in body.strip().splitlines())
    total += sum(int(n) for n in re.findall(r"char \w+\[(\d+)\]", body))
    assert total == EVENT.size == 144


def test_decode_online() -> None:
    ev = decode_event(pack())
    assert (ev.kind, ev.start_pfn, ev.nr_pages, ev.node, ev.zone, ev.online_type) == \
        ("online", 0x140000, 0x8000, 1, "Movable", "online_movable")
    assert ev.result == 0 and ev.error is None and ev.duration_ns == 2500 and ev.comm == "sh"
    assert ev.group is not None and (ev.group.node, ev.group.dynamic, ev.group.max_pages,
                                     ev.group.present_movable_pages) == (1, False, 0x20000, 0x8000)


def test_decode_failed_offline_and_unknowns() -> None:
    ev = decode_event(pack(kind=3, ret=-16, otype=-1, nid=-1, zone=b"Normal", checks=3, failures=3,
                           migrated=5, mfailed=2))
    assert (ev.kind, ev.error, ev.online_type, ev.node) == ("offline", "EBUSY", None, None)
    assert (ev.isolation_checks, ev.isolation_failures, ev.migrated, ev.migrate_failed) == (3, 3, 5, 2)
    assert decode_event(pack(kind=1, zone=b"", gmax=0)).zone is None
    assert decode_event(pack(kind=1, gmax=0)).group is None


@pytest.mark.parametrize("raw, message", [
    (pack()[:100], "expected 144"),
    (pack(gdyn=2), "not a bool"),
    (pack(kind=9), "unknown event kind"),
    (pack(otype=7), "unknown online type"),
    (pack(ret=5), "neither 0 nor -errno"),
    (pack(zone=b"M" * 16), "not NUL-terminated"),
    (pack(zone=b"\xff\0"), "not ASCII"),
])
def test_decode_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        decode_event(raw)


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_decode_recorded_guest_events(path: Path) -> None:
    """Every perf record a real guest kernel sent decodes to the event watch recorded."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    bpf = [x["event"] for x in lines if "event" in x and x["event"]["source"] == "bpf" and "raw" in x["event"]]
    assert bpf
    for e in bpf:
        ev = decode_event(bytes.fromhex(e["raw"]))
        assert (ev.kind, ev.start_pfn, ev.nr_pages, ev.zone, ev.node, ev.online_type) == \
            (e["action"], e.get("start_pfn"), e.get("nr_pages"), e.get("zone"), e.get("node"), e.get("online_type"))


def test_every_handler_is_in_the_c_source() -> None:
    text = SOURCE.read_text()
    for candidates in KPROBES.values():
        for _, entry, ret in candidates:
            for name in filter(None, (entry, ret)):
                assert re.search(rf"\bint {name}\(struct pt_regs \*ctx", text), name


def test_plan_picks_present_points() -> None:
    fns = {"add_memory_resource", "zone_for_pfn_range", "online_pages", "offline_pages", "__remove_memory"}
    p = plan(fns, lambda c, e: c == "migrate")
    assert p.missing == ()
    assert "kretprobe:__remove_memory" in p.points() and "tracepoint:migrate:mm_migrate_pages" in p.points()
    assert not any("page_isolation" in x for x in p.points())
    p2 = plan(fns | {"try_remove_memory"}, lambda c, e: False)
    assert "kprobe:try_remove_memory" in p2.points() and "kprobe:__remove_memory" not in p2.points()


def test_plan_reports_missing_roles() -> None:
    assert plan({"online_pages"}, lambda c, e: False).missing == ("add", "online_type", "offline", "remove")
