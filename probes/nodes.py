"""``/sys/devices/system/node``: which NUMA nodes exist, have memory or CPUs, and their meminfo.

drivers/base/node.c: ``online``, ``possible``, ``has_memory``, ``has_normal_memory`` and
``has_cpu`` are node lists (``0-2,4``; a missing file gives None); per node ``cpulist``
is a CPU list and ``meminfo`` lines ``Node N Key: value [kB]``. Meminfo values are as
printed: kB for lines that say kB, plain counts (``HugePages_*``) otherwise.
"""
from __future__ import annotations

import re
from typing import Mapping

from probes.records import field, frozen
from probes.reading import ParseError, Reading, Status
from probes.root import Root
from probes.sysfs import parse_int, parse_list

NODE_DIR = "sys/devices/system/node"
NODE_LISTS = ("online", "possible", "has_memory", "has_normal_memory", "has_cpu")
_MEMINFO = re.compile(r"Node\s+(\d+)\s+([^:\s]+):\s+(\d+)(?:\s+kB)?\s*")


@frozen
class Node:
    """Node ``number``: its CPUs and its meminfo (kB for kB lines); None when not readable."""

    number: int
    cpus: frozenset[int] | None
    meminfo: Mapping[str, int] | None = field(hash=False, compare=True, default=None)

    @property
    def mem_total_kb(self) -> int | None:
        return None if self.meminfo is None else self.meminfo.get("MemTotal")


@frozen
class Nodes:
    """The node lists (None when the file is absent) and each ``nodeN`` directory."""

    online: frozenset[int] | None
    possible: frozenset[int] | None
    has_memory: frozenset[int] | None
    has_normal_memory: frozenset[int] | None
    has_cpu: frozenset[int] | None
    nodes: tuple[Node, ...]


def parse_node_meminfo(number: int, text: str) -> dict[str, int]:
    """``nodeN/meminfo``: ``{"MemTotal": kB, ..., "HugePages_Total": count}``."""
    out: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _MEMINFO.fullmatch(line)
        if not m:
            raise ParseError(f"node{number}/meminfo line {lineno}: {line[:60]!r}")
        if int(m.group(1)) != number:
            raise ParseError(f"node{number}/meminfo line {lineno} names node {m.group(1)}")
        out[m.group(2)] = int(m.group(3))
    return out


def parse_nodes(lists: Mapping[str, str], per_node: Mapping[str, Mapping[str, str]]) -> Nodes:
    """From the list files' texts and ``{"node0": {"cpulist": .., "meminfo": ..}}``."""
    parsed = {k: parse_list(lists[k], f"node/{k}") if k in lists else None for k in NODE_LISTS}
    nodes = []
    for name, files in per_node.items():
        if not (name.startswith("node") and name[4:].isdigit()):
            raise ParseError(f"{name[:40]!r} is not a nodeN directory")
        n = parse_int(name[4:], 10, name)
        cpus = parse_list(files["cpulist"], f"{name}/cpulist") if "cpulist" in files else None
        meminfo = parse_node_meminfo(n, files["meminfo"]) if "meminfo" in files else None
        nodes.append(Node(n, cpus, meminfo))
    return Nodes(parsed["online"], parsed["possible"], parsed["has_memory"], parsed["has_normal_memory"],
                 parsed["has_cpu"], tuple(sorted(nodes, key=lambda x: x.number)))


def read_nodes(root: Root) -> Reading[Nodes]:
    """Nodes from ``sys/devices/system/node`` (ABSENT on a kernel without NUMA sysfs)."""
    listing = root.listdir(NODE_DIR)
    if not listing.ok:
        return Reading(listing.source, listing.status, None, listing.problem)
    texts: dict[str, str] = {}
    per_node: dict[str, dict[str, str]] = {}
    wanted = [(k, f"{NODE_DIR}/{k}") for k in NODE_LISTS]
    for name in listing.value or []:
        if name.startswith("node") and name[4:].isdigit():
            per_node[name] = {}
            wanted += [(f"{name}/{f}", f"{NODE_DIR}/{name}/{f}") for f in ("cpulist", "meminfo")]
    for key, rel in wanted:
        r = root.read_text(rel)
        if r.status is Status.ABSENT:
            continue
        if not r.ok:
            return Reading(r.source, r.status, None, r.problem)
        node, _, f = key.rpartition("/")
        (per_node[node] if node else texts)[f] = r.value or ""
    return Reading(NODE_DIR, Status.OK, (texts, per_node)).map(lambda v: parse_nodes(*v))
