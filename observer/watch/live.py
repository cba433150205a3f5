"""Watch memory hotplug live: sources, the per-event check, lost-event accounting.

:class:`Checker` is pure: it holds the hotplug state, checks one
:class:`~observer.watch.trace.Observation` against the online rules and applies it;
``movcheck replay`` runs the same checker over a trace. :class:`Watcher` runs
the sources (eBPF when the kernel allows, the uevent socket, sysfs polling as
the last resort), counts what they lose and reconciles by re-reading sysfs.
"""
from __future__ import annotations

import os
import select
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Callable

from observer.watch.trace import Observation, Verdict
from observer.watch.rules import Group, expected_zone
from probes.bpf.decode import HotplugEvent
from probes.records import mutable, replace
from probes.root import Root
from probes.sysfs_poll import (Block, HotplugState, KERNEL_ZONES, ZoneSpan, diff_states, read_block, read_policy,
                               read_state,
                               with_block)
from probes.uevent import UEvent, UeventListener

if TYPE_CHECKING:
    from probes.bpf.attach import BpfSource

ACTIONS = ("add", "online", "offline", "remove")


@mutable
class _Group:
    """A run of consecutive block numbers ``[first, last]``."""

    first: int  # block numbers [first, last]
    last: int


class Checker:
    """The hotplug state as the events describe it, and the verdict on each event.

    ``checked`` is the source whose events get verdicts (``bpf`` when it ran,
    else ``uevent`` or ``poll``); other sources' events are recorded as
    confirmations. Reconciled changes are always applied.
    """

    def __init__(self, state: HotplugState, checked: str) -> None:
        self.state = state
        self.checked = checked
        self._groups: list[_Group] = []
        self._auto: set[int] = set()  # blocks added here, not yet onlined: their online uses auto_online
        self._last_add: tuple[int, int | None] | None = None

    def blocks_of(self, obs: Observation) -> list[int]:
        return _blocks(obs, self.state.block_pages)

    def check(self, obs: Observation) -> Verdict | None:
        """The verdict on ``obs`` (None for a confirmation), then apply it to the state."""
        if obs.action == "lost":
            return Verdict("unknown", f"{obs.detail.get('count', '?')} event(s) lost by {obs.source}; "
                                      f"reconciled from sysfs")
        if obs.source not in (self.checked, "reconcile"):
            return None
        if "policy" in obs.detail:  # the policy read when the event was handled (it can change at run time)
            self.state = replace(self.state, **obs.detail["policy"])  # type: ignore[arg-type]
        return getattr(self, f"_{obs.action}")(obs)

    # -- one method per action: check, then apply -------------------------------------------------
    def _add(self, obs: Observation) -> Verdict:
        blocks = self.blocks_of(obs)
        if obs.result:
            return Verdict("info", f"hot-add failed: {obs.error}")
        prev = self._last_add
        if obs.source != "bpf" and prev is not None and blocks and prev == (blocks[0] - 1, obs.node) \
                and self._groups and self._groups[-1].last == blocks[0] - 1:
            self._groups[-1].last = blocks[-1]  # consecutive per-block adds: one DIMM
        elif blocks:
            self._groups.append(_Group(blocks[0], blocks[-1]))
        for n in blocks:
            if n not in self.state.blocks:
                self.state = with_block(self.state, n, Block("offline", obs.node, None))
            if self.state.auto_online != "offline":
                self._auto.add(n)
        self._last_add = (blocks[-1], obs.node) if blocks else None
        policy = self.state.auto_online
        return Verdict("info", f"{len(blocks)} block(s) added; auto-online: {policy}")

    def _online(self, obs: Observation) -> Verdict:
        self._last_add = None
        blocks = self.blocks_of(obs)
        bp = self.state.block_pages
        if not blocks:
            return Verdict("unknown", "no block range in the event")
        n = blocks[0]
        node = obs.node if obs.node is not None else (self.state.blocks.get(n) or Block("", None, None)).node
        if obs.result:
            return Verdict("info", f"online failed: {obs.error}", actual=obs.zone)
        known = self.state.blocks.get(n)
        if known is not None and known.state == "online" and obs.source != "reconcile":
            return Verdict("info", "block already online (seen after a reconcile)", actual=obs.zone)
        if node is None:
            verdict = Verdict("unknown", "node of the block unknown", actual=obs.zone)
        else:
            verdict = self._zone_verdict(obs, n, node)
        self._auto.discard(n)
        if obs.zone is not None and node is not None:
            self._apply_online(node, obs.zone, n * bp, bp)
        self.state = with_block(self.state, n, Block("online", node, obs.zone))
        return verdict

    def _zone_verdict(self, obs: Observation, n: int, node: int) -> Verdict:
        bp = self.state.block_pages
        group = _kernel_group(obs) or self._group_of(n)
        otype = obs.online_type or (self.state.auto_online if n in self._auto else None)
        if otype is not None and otype.startswith("online"):
            zone, why = expected_zone(self.state, otype, node, n * bp, bp, group)
            prefix = "" if obs.online_type else "auto-online (memhp_default_state): "
            if obs.zone is None:
                return Verdict("unknown", f"{prefix}{why}; actual zone not readable", zone, None)
            status = "agree" if zone == obs.zone else "disagree"
            return Verdict(status, f"{otype}: {prefix}{why}", zone, obs.zone)
        allowed = {expected_zone(self.state, t, node, n * bp, bp, group)[0]
                   for t in ("online", "online_kernel", "online_movable")}
        if obs.zone is None:
            return Verdict("unknown", "actual zone not readable", "/".join(sorted(allowed)), None)
        status = "agree" if obs.zone in allowed else "disagree"
        return Verdict(status, f"online type not visible to {obs.source}; valid zones here: "
                               f"{', '.join(sorted(allowed))}", "/".join(sorted(allowed)), obs.zone)

    def _offline(self, obs: Observation) -> Verdict:
        self._last_add = None
        blocks = self.blocks_of(obs)
        if not blocks:
            return Verdict("unknown", "no block range in the event")
        n = blocks[0]
        known = self.state.blocks.get(n)
        zone = obs.zone or (known.zone if known else None)
        node = obs.node if obs.node is not None else (known.node if known else None)
        if obs.result:
            if zone == "Movable":
                return Verdict("disagree", f"offline of a ZONE_MOVABLE block failed ({obs.error}): "
                                           f"Movable memory should always offline", "offlinable", zone)
            return Verdict("info", f"offline failed ({obs.error}) in {zone or 'unknown zone'}: "
                                   f"kernel zones are not guaranteed to offline", actual=zone)
        if known is not None and known.state != "online" and obs.source != "reconcile":
            return Verdict("info", "block already offline (seen after a reconcile)", actual=zone)
        if node is not None and zone is not None:
            self._apply_offline(node, zone, n * self.state.block_pages, self.state.block_pages)
        self.state = with_block(self.state, n, Block("offline", node, None))
        return Verdict("agree" if known is None or known.zone in (None, zone) else "disagree",
                       "offlined" if known is None or known.zone in (None, zone)
                       else f"offlined from {zone}, but it was onlined to {known.zone}",
                       known.zone if known else None, zone)

    def _remove(self, obs: Observation) -> Verdict:
        self._last_add = None
        blocks = self.blocks_of(obs)
        if obs.result:
            return Verdict("info", f"hot-remove failed: {obs.error}")
        online = [n for n in blocks if (self.state.blocks.get(n) or Block("offline", None, None)).state == "online"]
        for n in blocks:
            self.state = with_block(self.state, n, None)
            self._auto.discard(n)
        self._groups = [g for g in self._groups if not (blocks and g.first >= blocks[0] and g.last <= blocks[-1])]
        if online:
            return Verdict("disagree", f"removed while memory{online[0]} was still online")
        return Verdict("info", f"{len(blocks)} block(s) removed")

    # -- state updates (mm/memory_hotplug.c: move_pfn_range_to_zone, shrink_zone_span) -----------
    def _apply_online(self, node: int, zone: str, start: int, nr: int) -> None:
        span = self.state.zones.get((node, zone), ZoneSpan(None, 0, 0))
        if span.spanned == 0 or span.start_pfn is None:
            lo, hi = start, start + nr
        else:
            lo, hi = min(span.start_pfn, start), max(span.start_pfn + span.spanned, start + nr)
        self._set_zone(node, zone, replace(span, start_pfn=lo, spanned=hi - lo, present=span.present + nr))

    def _apply_offline(self, node: int, zone: str, start: int, nr: int) -> None:
        span = self.state.zones.get((node, zone))
        if span is None or span.start_pfn is None:
            return
        lo, hi = span.start_pfn, span.start_pfn + span.spanned
        if start <= lo or start + nr >= hi:  # at an edge: shrink to the remaining online blocks
            bp = self.state.block_pages
            rest = [b * bp for b, blk in self.state.blocks.items()
                    if blk.state == "online" and blk.node == node and blk.zone == zone and b * bp != start]
            if rest:
                lo = max(lo, min(rest)) if start <= lo else lo
                hi = min(hi, max(rest) + bp) if start + nr >= hi else hi
            else:
                lo, hi = 0, 0
        self._set_zone(node, zone, replace(span, start_pfn=lo if hi > lo else None, spanned=max(hi - lo, 0),
                                           present=max(span.present - nr, 0)))

    def _set_zone(self, node: int, zone: str, span: ZoneSpan) -> None:
        zones = dict(self.state.zones)
        zones[(node, zone)] = span
        self.state = replace(self.state, zones=zones)

    def _group_of(self, n: int) -> Group | None:
        g = next((g for g in self._groups if g.first <= n <= g.last), None)
        if g is None:
            return None
        bp = self.state.block_pages
        kernel = movable = 0
        for b in range(g.first, g.last + 1):
            blk = self.state.blocks.get(b)
            if blk is not None and blk.state == "online":
                if blk.zone in KERNEL_ZONES:
                    kernel += bp
                elif blk.zone == "Movable":
                    movable += bp
        return Group((g.last - g.first + 1) * bp, kernel, movable)


def format_line(obs: Observation, verdict: Verdict | None) -> str:
    """The one line watch and replay print for an observation."""
    what = f"memory{obs.block}" if obs.block is not None else (
        f"pfn {obs.start_pfn:#x}+{obs.nr_pages:#x}" if obs.start_pfn is not None and obs.nr_pages else "")
    node = f"node {obs.node}" if obs.node is not None else ""
    zone = obs.zone or ""
    took = f"{obs.duration_us / 1000:.1f}ms" if obs.duration_us is not None else ""
    head = f"{obs.t:9.3f}s {obs.source:9} {obs.action:7} {what:22} {node:7} {zone:8} {took:>8}"
    if verdict is None:
        return f"{head}  (confirms)"
    exp = f"expected {verdict.expected} " if verdict.expected else ""
    return f"{head}  {exp}{verdict.status.upper()}: {verdict.why}"


# -- the live loop ----------------------------------------------------------------------------------

class Watcher:
    """Runs the sources and turns what they see into observations for ``emit``."""

    def __init__(self, root: Root, emit: Callable[[Observation], None], use_bpf: bool = True,
                 poll_interval: float = 0.5, rcvbuf: int | None = None, bpf_pages: int = 64) -> None:
        self.root = root
        self.emit = emit
        self.t0 = time.monotonic()
        self.seq = 0
        self.lost = {"bpf": 0, "uevent": 0}
        self.reconciled = 0
        self.notes: list[str] = []
        self.sources: list[str] = []
        self.attach_points: list[str] = []
        self.bpf: BpfSource | None = None
        self.uevents: UeventListener | None = None
        self.poll_interval = poll_interval
        self._pending_bpf: list[tuple[bytes, HotplugEvent]] = []
        self._need_reconcile = False
        reading = read_state(root, os.uname().release)
        if not reading.ok:
            raise RuntimeError(reading.describe())
        self.state: HotplugState = reading.value  # type: ignore[assignment]
        if use_bpf:
            self._start_bpf(bpf_pages)
        try:
            self.uevents = UeventListener(rcvbuf)
            self.sources.append("uevent")
        except (ImportError, OSError) as exc:
            self.notes.append(f"uevent socket unavailable ({exc}); polling sysfs every {poll_interval}s")
            self.sources.append("poll")

    def _start_bpf(self, pages: int) -> None:
        from probes.bpf.attach import BpfSource, why_not

        reason = why_not()
        if reason is not None:
            self.notes.append(f"eBPF off: {reason}; watching uevents")
            return
        try:
            bpf = BpfSource(lambda raw, ev: self._pending_bpf.append((raw, ev)),
                            self._bpf_lost, lambda raw, why: self.notes.append(f"bad perf record: {why}"), pages)
        except Exception as exc:  # bcc reports compile/attach failures as plain Exceptions
            self.notes.append(f"eBPF off: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                              f"watching uevents")
            return
        self.bpf = bpf
        self.sources.append("bpf")
        self.attach_points = bpf.plan.points()
        if bpf.plan.missing:
            self.notes.append(f"eBPF: no attach point for {', '.join(bpf.plan.missing)}")

    @property
    def checked(self) -> str:
        return self.sources[0]

    def _now(self) -> float:
        return round(time.monotonic() - self.t0, 6)

    def _next(self, **kw: object) -> Observation:
        self.seq += 1
        return Observation(seq=self.seq, t=self._now(), **kw)  # type: ignore[arg-type]

    def _detail(self, action: str, detail: dict[str, object]) -> dict[str, object]:
        """``detail`` plus, for an add or online, the onlining policy in force now."""
        if action in ("add", "online"):
            detail["policy"] = read_policy(self.root)
        return detail

    def _bpf_lost(self, count: int) -> None:
        self.lost["bpf"] += count
        self.emit(self._next(source="bpf", action="lost", detail={"count": count}))
        self._need_reconcile = True

    def run(self, deadline: float | None) -> None:
        """Watch until ``deadline`` (monotonic seconds) or KeyboardInterrupt."""
        while deadline is None or time.monotonic() < deadline:
            if self.bpf is not None:
                self.bpf.poll(100)
                self._flush_bpf()
                self._drain_uevents(0)
            elif self.uevents is not None:
                self._drain_uevents(0.2)
            else:
                time.sleep(self.poll_interval)
                self.reconcile("poll")
            if self._need_reconcile:
                self.reconcile("reconcile")

    def _flush_bpf(self) -> None:
        batch, self._pending_bpf = sorted(self._pending_bpf, key=lambda p: p[1].time_ns), []
        bp = self.state.block_pages
        for raw, ev in batch:
            block = ev.start_pfn // bp if ev.kind in ("online", "offline") else None
            obs = self._next(source="bpf", action=ev.kind, block=block, start_pfn=ev.start_pfn,
                             nr_pages=ev.nr_pages, node=ev.node, zone=ev.zone, online_type=ev.online_type,
                             result=ev.result, error=ev.error, duration_us=ev.duration_ns / 1000,
                             detail=self._detail(ev.kind, _bpf_detail(ev)), raw=raw.hex())
            self._track(obs)
            self.emit(obs)

    def _drain_uevents(self, timeout: float) -> None:
        assert self.uevents is not None
        ready, _, _ = select.select([self.uevents], [], [], timeout)
        if not ready:
            return
        events, overflows = self.uevents.receive()
        for raw, why in self.uevents.malformed:
            self.notes.append(f"bad uevent ({why}): {raw[:60]!r}")
        self.uevents.malformed.clear()
        if overflows:
            self.lost["uevent"] += overflows
            self.emit(self._next(source="uevent", action="lost", detail={"count": overflows, "errno": "ENOBUFS"}))
            self._need_reconcile = True
        for raw, ev in events:
            self._on_uevent(raw, ev)

    def _on_uevent(self, raw: bytes, ev: UEvent) -> None:
        n = ev.block
        if n is None or ev.action not in ACTIONS or ev.synthetic:
            return
        bp = self.state.block_pages
        checked = self.checked == "uevent"  # else a confirmation of bpf events: no sysfs reads
        blk = read_block(self.root, n) if checked and ev.action in ("add", "online") else None
        known = self.state.blocks.get(n)
        node = blk.node if blk else (known.node if known else None)
        zone = None
        if ev.action == "online" and blk is not None:
            zone = blk.zone if blk.state == "online" else None
        elif ev.action in ("online", "offline") and known is not None:
            zone = known.zone
        detail: dict[str, object] = {"seqnum": dict(ev.env).get("SEQNUM")}
        obs = self._next(source="uevent", action=ev.action, block=n, start_pfn=n * bp, nr_pages=bp,
                         node=node, zone=zone, detail=self._detail(ev.action, detail) if checked else detail,
                         raw=raw.hex())
        if checked:
            self._track(obs)
        self.emit(obs)

    def _track(self, obs: Observation) -> None:
        """Keep the watcher's own block table in step (used to reconcile)."""
        blocks = dict(self.state.blocks)
        for n in _blocks(obs, self.state.block_pages):
            if obs.result:
                continue
            if obs.action == "remove":
                blocks.pop(n, None)
            elif obs.action == "add":
                blocks.setdefault(n, Block("offline", obs.node, None))
            elif obs.action in ("online", "offline"):
                blocks[n] = Block(obs.action, obs.node, obs.zone if obs.action == "online" else None)
        self.state = replace(self.state, blocks=blocks)

    def reconcile(self, source: str) -> int:
        """Re-read sysfs, emit the changes the events did not show; return their number."""
        self._need_reconcile = False
        reading = read_state(self.root, self.state.release)
        if not reading.ok:
            self.notes.append(f"reconcile failed: {reading.describe()}")
            return 0
        new: HotplugState = reading.value  # type: ignore[assignment]
        changes = diff_states(self.state.blocks, new.blocks)
        bp = new.block_pages
        for ch in changes:
            self.emit(self._next(source=source, action=ch.action, block=ch.block, start_pfn=ch.block * bp,
                                 nr_pages=bp, node=ch.node, zone=ch.zone, detail=self._detail(ch.action, {})))
        if source == "reconcile":
            self.reconciled += len(changes)
        self.state = new
        return len(changes)

    def close(self) -> None:
        """Detach every probe and close the socket."""
        if self.bpf is not None:
            self.bpf.close()
            self.bpf = None
        if self.uevents is not None:
            self.uevents.close()
            self.uevents = None


def _blocks(obs: Observation, bp: int) -> list[int]:
    if obs.block is not None:
        return [obs.block]
    if obs.start_pfn is None or not obs.nr_pages:
        return []
    return list(range(obs.start_pfn // bp, (obs.start_pfn + obs.nr_pages + bp - 1) // bp))


def _kernel_group(obs: Observation) -> Group | None:
    """The static memory group the kernel passed to online_pages (bpf events), before this block."""
    g = obs.detail.get("group")
    if not isinstance(g, dict) or g.get("dynamic"):
        return None  # dynamic groups (virtio-mem) decide per unit: not modelled
    return Group(int(g["max_pages"]), int(g["present_kernel_pages"]), int(g["present_movable_pages"]))


def _bpf_detail(ev: HotplugEvent) -> dict[str, object]:
    d: dict[str, object] = {"pid": ev.pid, "comm": ev.comm}
    if ev.group is not None:
        d["group"] = asdict(ev.group)
    if ev.kind == "offline":
        d.update(isolation_checks=ev.isolation_checks, isolation_failures=ev.isolation_failures,
                 migrated=ev.migrated, migrate_failed=ev.migrate_failed)
    return d

