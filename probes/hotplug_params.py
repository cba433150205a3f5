"""Memory-hotplug policy knobs: ``/sys/module/memory_hotplug/parameters/*`` and
``/sys/devices/system/memory/auto_online_blocks``.

mm/memory_hotplug.c: ``online_policy`` (``contig-zones``/``auto-movable``, 5.15+),
``auto_movable_ratio`` (percent, 5.15+), ``auto_movable_numa_aware`` (Y/N, 5.15+),
``memmap_on_memory`` (Y/N; ``force`` possible on 6.6+). drivers/base/memory.c
``auto_online_blocks``: the default online type for hot-added memory (``offline``,
``online``, ``online_kernel``, ``online_movable``). A knob the kernel lacks is None; the
reading is ABSENT only when none exists.
"""
from __future__ import annotations

from typing import Mapping

from probes.records import frozen
from probes.reading import ParseError, Reading, Status
from probes.root import Root
from probes.sysfs import parse_int

PARAMS_DIR = "sys/module/memory_hotplug/parameters"
AUTO_ONLINE_PATH = "sys/devices/system/memory/auto_online_blocks"
PARAMS = ("online_policy", "auto_movable_ratio", "auto_movable_numa_aware", "memmap_on_memory")
ONLINE_TYPES = ("offline", "online", "online_kernel", "online_movable")


@frozen
class HotplugParams:
    """The knobs as the running kernel reports them; None when the kernel lacks one."""

    online_policy: str | None = None
    auto_movable_ratio: int | None = None
    auto_movable_numa_aware: bool | None = None
    memmap_on_memory: str | None = None
    auto_online_blocks: str | None = None


def _yn(text: str, what: str) -> bool:
    v = text.strip()
    if v not in ("Y", "N"):
        raise ParseError(f"{what}: {v[:20]!r} is not Y or N")
    return v == "Y"


def parse_hotplug_params(files: Mapping[str, str]) -> HotplugParams:
    """From ``{"online_policy": "contig-zones\\n", ..., "auto_online_blocks": "offline\\n"}``."""
    def text(key: str) -> str | None:
        return files[key].strip() if key in files else None

    auto = text("auto_online_blocks")
    if auto is not None and auto not in ONLINE_TYPES:
        raise ParseError(f"auto_online_blocks: unknown online type {auto[:40]!r}")
    policy = text("online_policy")
    if policy is not None and not policy:
        raise ParseError("online_policy is empty")
    ratio = files.get("auto_movable_ratio")
    aware = files.get("auto_movable_numa_aware")
    return HotplugParams(
        online_policy=policy,
        auto_movable_ratio=None if ratio is None else parse_int(ratio, 10, "auto_movable_ratio"),
        auto_movable_numa_aware=None if aware is None else _yn(aware, "auto_movable_numa_aware"),
        memmap_on_memory=text("memmap_on_memory"),
        auto_online_blocks=auto,
    )


def read_hotplug_params(root: Root) -> Reading[HotplugParams]:
    """The hotplug knobs (ABSENT when the kernel has none of them)."""
    files: dict[str, str] = {}
    for key, rel in [(p, f"{PARAMS_DIR}/{p}") for p in PARAMS] + [("auto_online_blocks", AUTO_ONLINE_PATH)]:
        r = root.read_text(rel)
        if r.status is Status.ABSENT:
            continue
        if not r.ok:
            return Reading(r.source, r.status, None, r.problem)
        files[key] = r.value or ""
    if not files:
        return Reading(PARAMS_DIR, Status.ABSENT, None, "absent (kernel without memory hotplug)")
    return Reading(PARAMS_DIR, Status.OK, files).map(parse_hotplug_params)
