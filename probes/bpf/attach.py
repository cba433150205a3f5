"""Load hotplug.c through bcc on the running kernel, attaching only the points it has.

:func:`why_not` says in one line why eBPF cannot run here (no bcc, no kprobes,
no headers); :func:`plan` picks the attach points from what the kernel offers
(pure: tested without a kernel); :class:`BpfSource` compiles, attaches, polls
the perf buffer and detaches.
"""
from __future__ import annotations

import ctypes
import importlib
import os
from pathlib import Path
from typing import Callable, Iterable

from probes.bpf.decode import HotplugEvent, decode_event
from probes.records import frozen
from probes.reading import ParseError

SOURCE = Path(__file__).with_name("hotplug.c")

#: (kernel function, entry handler, return handler or None), by role; the first present one per role is used.
KPROBES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "add": (("add_memory_resource", "add_entry", "add_return"),),
    "online_type": (("zone_for_pfn_range", "zone_for_entry", None),),
    "online": (("online_pages", "online_entry", "online_return"),),
    "offline": (("offline_pages", "offline_entry", "offline_return"),),
    "remove": (("try_remove_memory", "remove_entry", "remove_return"),
               ("__remove_memory", "remove_entry", "remove_void_return")),
}
#: (category, event, macro enabling its handler in hotplug.c)
TRACEPOINTS = (("page_isolation", "test_pages_isolated", "HAVE_TP_ISOLATION"),
               ("migrate", "mm_migrate_pages", "HAVE_TP_MIGRATE"))
REQUIRED_ROLES = ("online", "offline")


@frozen
class AttachPlan:
    """The kprobes and tracepoints to attach on this kernel, and the roles none serves."""

    kprobes: tuple[tuple[str, str, str | None], ...]
    tracepoints: tuple[tuple[str, str, str], ...]
    missing: tuple[str, ...]  # roles with no attach point on this kernel

    def points(self) -> list[str]:
        """Every attach point, as ``kprobe:fn``, ``kretprobe:fn`` and ``tracepoint:cat:event``."""
        out = []
        for fn, _, ret in self.kprobes:
            out.append(f"kprobe:{fn}")
            if ret:
                out.append(f"kretprobe:{fn}")
        out.extend(f"tracepoint:{c}:{e}" for c, e, _ in self.tracepoints)
        return out


def plan(functions: Iterable[str], tracepoint_exists: Callable[[str, str], bool]) -> AttachPlan:
    """The attach points to use, given the kernel's probe-able functions and tracepoints."""
    have = set(functions)
    chosen, missing = [], []
    for role, candidates in KPROBES.items():
        pick = next((c for c in candidates if c[0] in have), None)
        if pick is None:
            missing.append(role)
        else:
            chosen.append(pick)
    tps = tuple(t for t in TRACEPOINTS if tracepoint_exists(t[0], t[1]))
    return AttachPlan(tuple(chosen), tps, tuple(missing))


def why_not(root_prefix: str = "/") -> str | None:
    """None when eBPF kprobes can run on this kernel, else the one-line reason."""
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists(os.path.join(root_prefix, "sys/bus/event_source/devices/kprobe")):
        return "this kernel has no kprobes (no kprobe event source; CONFIG_KPROBE_EVENTS off)"
    release = os.uname().release
    if not (os.path.isdir(f"/lib/modules/{release}/build") or os.path.exists("/sys/kernel/kheaders.tar.xz")
            or os.path.isdir(os.environ.get("BCC_KERNEL_SOURCE", "/nonexistent"))):
        return f"no kernel headers for {release} (install linux-headers-{release})"
    try:
        importlib.import_module("bcc")
    except ImportError:
        return "bcc is not installed (python3-bpfcc)"
    return None


class BpfSource:
    """hotplug.c compiled and attached; :meth:`poll` calls ``on_event(raw, event)`` / ``on_lost(count)``."""

    def __init__(self, on_event: Callable[[bytes, HotplugEvent], None], on_lost: Callable[[int], None],
                 on_malformed: Callable[[bytes, str], None], page_cnt: int = 64) -> None:
        from bcc import BPF

        functions = {fn for cands in KPROBES.values() for fn, _, _ in cands
                     if BPF.get_kprobe_functions(f"^{fn}$".encode())}
        self.plan = plan(functions, lambda c, e: BPF.tracepoint_exists(c, e))
        if any(role in self.plan.missing for role in REQUIRED_ROLES):
            raise RuntimeError(f"kernel lacks attach points for {', '.join(self.plan.missing)}")
        cflags = [f"-D{macro}=1" for _, _, macro in self.plan.tracepoints]
        self._bpf = BPF(text=SOURCE.read_text(), cflags=cflags)
        try:
            for fn, entry, ret in self.plan.kprobes:
                self._bpf.attach_kprobe(event=fn, fn_name=entry)
                if ret:
                    self._bpf.attach_kretprobe(event=fn, fn_name=ret, maxactive=64)
            # TRACEPOINT_PROBE handlers are attached by bcc itself when the program loads.

            def callback(_cpu: int, data: int, size: int) -> None:
                raw = ctypes.string_at(data, size)
                try:
                    on_event(raw, decode_event(raw))
                except ParseError as exc:
                    on_malformed(raw, str(exc))

            # Losses are read from the program's own ``dropped`` count after each poll (see
            # hotplug.c); bcc's lost callback reports the same events later, so it only stays quiet.
            self._bpf["events"].open_perf_buffer(callback, page_cnt=page_cnt, lost_cb=lambda _count: None)
            self._dropped, self._on_lost, self._reported = self._bpf["dropped"], on_lost, 0
        except BaseException:
            self._bpf.cleanup()
            raise

    def poll(self, timeout_ms: int) -> None:
        """Deliver the events the perf buffer holds, then the count of those it could not hold."""
        self._bpf.perf_buffer_poll(timeout=timeout_ms)
        dropped = self._dropped[ctypes.c_int(0)].value
        if dropped > self._reported:
            self._on_lost(dropped - self._reported)
            self._reported = dropped

    def close(self) -> None:
        """Detach every probe and free the maps."""
        self._bpf.cleanup()
