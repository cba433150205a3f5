"""One machine of a fleet, as ``movcheck summary`` reads it from an audit: host, kernel, firmware,
memory options, nodes, which are removable, why the others are not, and its layout key; plus
the per-host table (``--hosts``)."""
from __future__ import annotations

import textwrap
import functools
from dataclasses import dataclass, field
from typing import Any, Iterable

from probes.cmdline import tokenize
from probes.firmware import describe_json
from probes.reading import ParseError


#: Which reason explains a node best: the firmware first, then what the kernel did at boot,
#: then the symptoms (a kernel zone, a pinned page).
ROOT_CAUSES = ("input-missing", "no-srat", "not-hotpluggable", "kernel-node", "memoryless-node",
               "hotadd-kernel-zone", "kernel-zone", "mixed-zones", "memory-hole", "kernel-image", "node-data",
               "cma", "reserved", "absent")
#: Root causes that say the firmware never offered a node for removal: on a machine where another
#: node is hot-pluggable, such nodes are the kernel's own and block nothing.
FIRMWARE_ONLY = ("not-hotpluggable",)
#: Command-line parameters that shape the memory layout (the "memory options" a fleet is split by).
MEMORY_OPTIONS = ("movable_node", "kernelcore", "movablecore", "mem", "memmap", "numa", "memhp_default_state",
                  "movablemem_map", "movablecore_map", "cma", "hugetlb_cma", "crashkernel", "efi_fake_mem")
#: A machine's verdict: some memory can be hot-removed, none can, or it could not be judged.
READY, NOT_READY, UNKNOWN = "ready", "not-ready", "unknown"


@dataclass(frozen=True)
class SummaryRow:
    source: str
    host: str
    kernel: str
    nodes: tuple[int, ...]
    removable: tuple[int, ...]
    unknown: tuple[int, ...]
    reasons: tuple[tuple[int, tuple[str, ...]], ...]  # per not-removable node: its blocker codes
    dimms: tuple[int, int] = (0, 0)  # (removable, total) hot-added DIMMs
    ready: tuple[int, ...] = ()      # removable nodes within the MOVABLE:KERNEL ratio
    firmware: str = "?"              # 'BIOS', 'UEFI 2.7 (EDK II)'; '?' not told
    options: str = "?"               # the memory options of the command line, '-' none, '?' unknown
    layout: str = ""                 # see :func:`layout_key`
    why: str = ""                    # why the input could not be judged (no nodes)
    #: Set from the fields above: READY, NOT_READY or UNKNOWN, and (not ready) the blocking root causes.
    status: str = field(default="", compare=False)
    blockers: tuple[str, ...] = field(default=(), compare=False)

    def reason_text(self, every: bool = False) -> str:
        """Each code once with the nodes it holds back: ``not-hotpluggable:0-1 kernel-node:2``;
        per node only its root cause (:data:`ROOT_CAUSES` order) unless ``every``."""
        by_code: dict[str, list[int]] = {}
        for node, codes in self.reasons:
            for c in _ranked(codes) if every else _ranked(codes)[:1]:
                by_code.setdefault(c, []).append(node)
        return " ".join(f"{c}:{_runs(nodes)}" for c, nodes in by_code.items()) or "-"

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", self._status())
        object.__setattr__(self, "blockers", self._blockers() if self.status == NOT_READY else ())

    def _status(self) -> str:
        """:data:`READY` when a node or a hot-added DIMM can be removed now; :data:`UNKNOWN` when
        nothing is and some node (or the whole input) could not be judged; else :data:`NOT_READY`."""
        if self.ready or self.dimms[0]:
            return READY
        return UNKNOWN if self.why or self.unknown or not self.nodes else NOT_READY

    @property
    def unknown_why(self) -> str:
        """Why an :data:`UNKNOWN` machine could not be judged, in one line."""
        if self.why:
            return self.why
        if not self.nodes:
            return "the audit lists no nodes"
        return f"node {_runs(list(self.unknown))} undetermined"

    def _blockers(self) -> tuple[str, ...]:
        """The root causes that keep a not-ready machine from hot-removing memory: each not-ready
        node's root cause, less :data:`FIRMWARE_ONLY` ones when another node got further."""
        causes = {node: _root_cause(codes) for node, codes in self.reasons if codes}
        causes.update({n: "movable-ratio" for n in self.removable if n not in self.ready})
        found = set(causes.values())
        if found - set(FIRMWARE_ONLY):
            found -= set(FIRMWARE_ONLY)
        return tuple(sorted(found, key=_rank))


_RANK = {code: i for i, code in enumerate(ROOT_CAUSES)}


def _rank(code: str) -> tuple[int, str]:
    return (_RANK.get(code, len(ROOT_CAUSES)), code)


def _ranked(codes: tuple[str, ...]) -> list[str]:
    return sorted(codes, key=lambda c: _RANK.get(c, len(ROOT_CAUSES)))


def _root_cause(codes: Iterable[str]) -> str:
    """The code that explains a node best: the first in :data:`ROOT_CAUSES` order, else the first
    code it has; ``?`` for none."""
    return min(codes, key=lambda c: _RANK.get(c, len(ROOT_CAUSES)), default="?")


def _runs(nums: list[int]) -> str:
    out: list[list[int]] = []
    for n in sorted(set(nums)):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


@functools.lru_cache(maxsize=4096)  # a fleet has few distinct command lines
def memory_options(cmdline: str | None) -> str:
    """The :data:`MEMORY_OPTIONS` tokens of a command line in its order (``movable_node
    kernelcore=2G``), ``-`` when it has none, ``?`` when it is unknown."""
    if cmdline is None:
        return "?"
    params, _ = tokenize(cmdline)
    mine = [p.name if p.value is None else f"{p.name}={p.value}" for p in params
            if p.key in MEMORY_OPTIONS or p.key.startswith("memory_hotplug.")]
    return " ".join(mine) or "-"


def _size(nbytes: int) -> str:
    """GiB rounded (``3G``; a node a few pages short of 1 GiB is ``1G``), MiB below 512 MiB."""
    return f"{round(nbytes / (1 << 30))}G" if nbytes >= 1 << 29 else f"{round(nbytes / (1 << 20))}M"


def layout_key(doc_nodes: list[dict[str, Any]], dimms: tuple[int, int]) -> str:
    """What makes two machines' layouts identical for hot-removal: per node (ascending) its number,
    present size (GiB rounded), which zones hold it (``movable``, ``kernel``, ``mixed``, ``empty``)
    and its verdict (``ready``, ``ratio`` removable beyond the Movable ratio, ``?``, or ``no:`` and
    its root cause); then the hot-added DIMMs as ``dimms:removable/total``."""
    parts = []
    for n in sorted(doc_nodes, key=lambda n: n["node"]):
        present, movable, kernel = (v if isinstance(v := n.get(k), int) else 0 for k in ("present", "movable", "kernel"))
        zones = "empty" if not present else "movable" if movable >= present else "kernel" if not movable \
            else "mixed"
        codes = [str(r.get("code")) for r in n["reasons"] if isinstance(r, dict) and r.get("severity") != "warning"]
        removable, ready = n.get("removable"), n.get("ready", n.get("removable"))
        verdict = "ready" if ready is True else "ratio" if removable is True else "?" if removable is None \
            else "no:" + _root_cause(codes)
        parts.append(f"n{n['node']}:{_size(present)}:{zones}:{verdict}")
    if dimms[1]:
        parts.append(f"dimms:{dimms[0]}/{dimms[1]}")
    return " ".join(parts)


def row_from_json(source: str, doc: Any) -> SummaryRow:
    """A row from ``movcheck audit --json`` output; ParseError when it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise ParseError("not movcheck audit JSON (no 'nodes' list)")
    nodes, removable, unknown, ready, reasons = [], [], [], [], []
    for n in doc["nodes"]:
        if not isinstance(n, dict) or not isinstance(n.get("node"), int) or not isinstance(n.get("reasons"), list):
            raise ParseError("a 'nodes' entry lacks 'node' or 'reasons'")
        nodes.append(n["node"])
        if n.get("removable") is True:
            removable.append(n["node"])
            if n.get("ready", True) is True:
                ready.append(n["node"])
        elif n.get("removable") is None:
            unknown.append(n["node"])
        codes = tuple(dict.fromkeys(str(r.get("code")) for r in n["reasons"]
                                    if isinstance(r, dict) and r.get("severity") != "warning"))
        if n.get("removable") is not True and codes:
            reasons.append((n["node"], codes))
    ranges = doc.get("ranges") if isinstance(doc.get("ranges"), list) else []
    dimm_list = [r for r in ranges if isinstance(r, dict) and r.get("kind") == "dimm"]  # type: ignore[union-attr]
    dimms = (sum(r.get("removable") is True for r in dimm_list), len(dimm_list))
    firmware = doc.get("firmware")
    cmdline = doc.get("cmdline")
    return SummaryRow(source, str(doc.get("host") or "-"), str(doc.get("kernel") or "?"), tuple(nodes),
                      tuple(removable), tuple(unknown), tuple(reasons), dimms, tuple(ready),
                      describe_json(firmware if isinstance(firmware, dict) else None),
                      memory_options(cmdline if isinstance(cmdline, str) else None),
                      layout_key(doc["nodes"], dimms))


def unjudged_row(source: str, host: str, kernel: str | None, firmware: str, cmdline: str | None,
                 why: str) -> SummaryRow:
    """A machine whose input could not be audited (a boot log alone), with what is known of it."""
    return SummaryRow(source, host, kernel or "?", (), (), (), (), firmware=firmware,
                      options=memory_options(cmdline), layout="?", why=why)


def _ids(ids: tuple[int, ...]) -> str:
    return _runs(list(ids)) or "-"


def render_summary(rows: list[SummaryRow], width: int = 80, every: bool = False) -> str:
    """The table; the reasons (code:nodes) wrap under their column."""
    host_w = max([4] + [len(r.host) for r in rows])
    kern_w = max([6] + [len(r.kernel) for r in rows])
    head = f"{'HOST':<{host_w}} {'KERNEL':<{kern_w}} {'NODES':>5} {'REMOVABLE':<9} {'DIMMS':>5} "
    indent = len(head)
    lines = [head + ("REASONS (code:nodes)" if every else "ROOT CAUSE (code:nodes)")]
    for r in rows:
        removable = _ids(r.removable) + (f" ?{_ids(r.unknown)}" if r.unknown else "")
        dimms = f"{r.dimms[0]}/{r.dimms[1]}" if r.dimms[1] else "-"
        prefix = f"{r.host:<{host_w}} {r.kernel:<{kern_w}} {len(r.nodes):>5} {removable:<9} {dimms:>5} "
        text = f"unknown: {r.why}" if r.why else r.reason_text(every)
        wrapped = textwrap.wrap(text, max(width - indent, 24), break_on_hyphens=False,
                                break_long_words=False) or ["-"]
        lines.append(prefix + wrapped[0])
        lines += [" " * indent + w for w in wrapped[1:]]
    return "\n".join(lines)
