"""The audit as JSON (lsmem's vocabulary, typed values) and as a human report under 80 columns."""
from __future__ import annotations

import json
from typing import Any, Iterator

from observer.audit.verdicts import Audit, BlockVerdict, block_list
from observer.audit.inputs import PAGE_SHIFT
from observer.audit.reasons import REASONS, Reason
from observer.render.output import fmt_range, fmt_size


def _reasons(reasons: list[Reason]) -> list[dict[str, Any]]:
    return [r.as_json() for r in reasons]


#: Stands for the blocks in :func:`audit_json` when :func:`audit_json_chunks` writes them itself.
_BLOCKS_MARK = "@@movcheck-blocks@@"
#: Blocks encoded per chunk by :func:`audit_json_chunks`.
_CHUNK = 1024


def _block_head(v: BlockVerdict) -> dict[str, Any]:
    """One block's entry of the audit's ``blocks`` but its ``reasons`` (which come last)."""
    b = v.block
    return {"block": b.number, "range": fmt_range(b.start, b.end), "start": b.start, "end": b.end,
            "size": b.end - b.start, "state": b.state, "node": b.node, "zones": v.zones,
            "valid_zones": list(b.valid_zones) if b.valid_zones is not None else None,
            "hotplugged": v.hotplugged, "offlinable": v.offlinable, "removable": v.removable}


def block_json(v: BlockVerdict) -> dict[str, Any]:
    """One block's entry of the audit's ``blocks``."""
    return {**_block_head(v), "reasons": _reasons(v.reasons)}


def audit_json(a: Audit, audited_at: str, requirements: list[dict[str, Any]] | None = None,
               blocks: bool = True) -> dict[str, Any]:
    """The audit as one JSON object: ``nodes``, ``blocks``, ``ranges``, ``advice`` and context.
    With ``blocks=False`` the blocks are left to :func:`audit_json_chunks` (a marker stands in)."""
    f = a.facts
    out: dict[str, Any] = {
        "host": f.host,
        "kernel": f.release,
        "firmware": f.boot_firmware.to_json() if f.boot_firmware else None,
        "cmdline": f.cmdline,
        "audited_at": audited_at,
        "block_size": f.block_size,
        "nodes": [{"node": n.node, "offlinable": n.offlinable, "removable": n.removable, "ready": n.ready,
                   "present": n.present_pages << PAGE_SHIFT, "movable": n.movable_pages << PAGE_SHIFT,
                   "kernel": n.kernel_pages << PAGE_SHIFT, "reasons": _reasons(n.reasons)} for n in a.nodes],
        "blocks": [block_json(v) for v in a.blocks] if blocks else _BLOCKS_MARK,
        "ranges": [{"kind": r.kind, "range": fmt_range(r.start, r.end), "start": r.start, "end": r.end,
                    "size": r.end - r.start, "node": r.node, "hotpluggable": r.hotpluggable,
                    "present": r.present, "blocks": r.blocks, "hotadd_zone": r.hotadd_zone,
                    "removable": r.removable, "reasons": _reasons(r.reasons)} for r in a.ranges],
        "system": {"movable": a.movable_pages << PAGE_SHIFT, "kernel": a.kernel_pages << PAGE_SHIFT,
                   "movable_ratio_percent": None if a.ratio_percent is None else round(a.ratio_percent, 1),
                   "auto_movable_ratio": a.ratio},
        "check": a.check,
        "advice": a.advice,
        "problems": list(f.problems),
    }
    if requirements is not None:
        out["requirements"] = requirements
    return out


def audit_json_chunks(a: Audit, audited_at: str, requirements: list[dict[str, Any]] | None = None
                      ) -> Iterator[str]:
    """The text of :func:`audit_json` (the same JSON value, ending in a newline) in pieces: the
    object indented by two, each block on one compact line (the C encoder, and the text of
    100k blocks never held at once)."""
    doc = json.dumps(audit_json(a, audited_at, requirements, blocks=False), indent=2)
    head, tail = doc.split(json.dumps(_BLOCKS_MARK), 1)  # the quoted marker occurs once, as a value
    if not a.blocks:
        yield head + "[]" + tail + "\n"
        return
    encode = json.JSONEncoder().encode  # what json.dumps does without options, made once
    tails: dict[tuple, str] = {}  # type: ignore[type-arg]  # alike blocks share all but the address keys

    def line(v: BlockVerdict) -> str:
        b = v.block
        key = (v.judgement, b.state, b.node, b.valid_zones)
        rest = tails.get(key)
        if rest is None:
            whole = encode(_block_head(v))
            rest = tails[key] = whole[whole.index(', "state": '):-1] + f', "reasons": {encode(_reasons(v.reasons))}}}'
        return (f'{{"block": {b.number}, "range": "{fmt_range(b.start, b.end)}", "start": {b.start}, '
                f'"end": {b.end}, "size": {b.end - b.start}{rest}')

    yield head + "[\n    "
    for i in range(0, len(a.blocks), _CHUNK):
        yield (",\n    " if i else "") + ",\n    ".join(map(line, a.blocks[i:i + _CHUNK]))
    yield "\n  ]" + tail + "\n"


def _yes(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def _codes(reasons: list[Reason]) -> str:
    return ", ".join(dict.fromkeys(r.code for r in reasons)) or "-"


def _columns(prefix: str, text: str, width: int = 79) -> list[str]:
    """``prefix`` then ``text``, wrapped under itself so no line passes ``width``."""
    import textwrap  # the text report only: JSON needs none of it
    room = max(width - len(prefix), 20)
    parts = textwrap.wrap(text, room, break_on_hyphens=False, break_long_words=False) or [""]
    return [prefix + parts[0]] + [" " * len(prefix) + p for p in parts[1:]]


def block_groups(blocks: list[BlockVerdict]) -> list[list[BlockVerdict]]:
    """Runs of adjacent blocks with the same state, node, zones, verdict and reason codes."""
    groups: list[list[BlockVerdict]] = []
    for v in blocks:
        key = (v.block.state, v.block.node, v.zones, v.removable, v.offlinable, [r.code for r in v.reasons])
        if groups:
            p = groups[-1][-1]
            if p.block.end == v.block.start and key == (p.block.state, p.block.node, p.zones, p.removable,
                                                        p.offlinable, [r.code for r in p.reasons]):
                groups[-1].append(v)
                continue
        groups.append([v])
    return groups


def render(a: Audit, requirements: list[dict[str, Any]] | None = None) -> str:
    """The human report: nodes, ranges, grouped blocks, then each reason's sentence and the advice."""
    f = a.facts
    firmware = f.boot_firmware.describe() if f.boot_firmware else "?"
    lines = [f"host {f.host or '-'}  kernel {f.release or '?'}  firmware {firmware}",
             *_wrap(f"cmdline: {f.cmdline or '?'}", "  "), "",
             f"{'NODE':>4} {'PRESENT':>8} {'MOVABLE':>8} {'OFFL':>4} {'REMV':>4} {'READY':>5}  REASONS"]
    for n in a.nodes:
        lines += _columns(f"{n.node:>4} {fmt_size(n.present_pages << PAGE_SHIFT):>8} "
                          f"{fmt_size(n.movable_pages << PAGE_SHIFT):>8} {_yes(n.offlinable):>4} "
                          f"{_yes(n.removable):>4} {_yes(n.ready):>5}  ", _codes(n.reasons))
    if a.ranges:
        lines += ["", f"{'RANGE':<37} {'SIZE':>6} {'KIND':<4} {'NODE':>4} {'HOTPLUG':>7} {'REMOVABLE':>9}"]
        for r in a.ranges:
            lines.append(f"{fmt_range(r.start, r.end):<37} {fmt_size(r.end - r.start):>6} {r.kind:<4} "
                         f"{'-' if r.node is None else r.node:>4} {_yes(r.hotpluggable):>7} {_yes(r.removable):>9}")
            if r.reasons:
                lines += _columns(" " * 6, _codes(r.reasons))
    lines += ["", f"{'BLOCKS':<9} {'SIZE':>6} {'STATE':<7} {'NODE':>4} {'ZONES':<9} {'OFFL':>4} {'REMV':>4} REASONS"]
    for g in block_groups(a.blocks):
        v = g[0]
        nums = block_list([x.block.number for x in g]).split(" ", 1)[1]
        lines += _columns(f"{nums:<9} {fmt_size(g[-1].block.end - v.block.start):>6} {v.block.state:<7} "
                          f"{'-' if v.block.node is None else v.block.node:>4} {'/'.join(v.zones) or '-':<9} "
                          f"{_yes(v.offlinable):>4} {_yes(v.removable):>4} ", _codes(v.reasons))
    used = [r for n in a.nodes for r in n.reasons] + _all_reasons(a)
    lines += ["", "Reasons:"]
    for code in dict.fromkeys(r.code for r in used):
        lines += _wrap(f"  {code}: {REASONS[code][1]}", "      ")
    for n in a.nodes:
        for why in n.reasons:
            if why.detail:
                lines += _wrap(f"  node {n.node} {why.code}: {why.detail}", "      ")
    if requirements:
        lines += ["", "Required:"]
        lines += [f"  {q['what']}: {_yes(q['removable'])}  {q['detail']}" for q in requirements]
    if a.check is not None:
        c = a.check
        lines += ["", "Check (the model's prediction against the live layout):"]
        if c["agree"] is None:
            lines += _wrap(f"  cannot tell: {c['problem']}", "    ")
        else:
            lines.append("  agree" if c["agree"] else f"  {len(c['mismatches'])} difference(s):")
            lines += [w for m in c["mismatches"] for w in _wrap(
                f"  {m['where']}: {m['field']} predicted {m['predicted']}, seen {m['seen']} (rule {m['rule']})", "    ")]
    if a.advice:
        lines += ["", "Advice:"]
        for adv in a.advice:
            lines += _wrap(f"  {adv['summary']}", "    ")
            lines += [f"    {d}" for d in adv.get("diff", [])]
    if f.problems:
        lines += ["", "Could not read:"] + [f"  {p}" for p in f.problems]
    return "\n".join(lines)


def _wrap(text: str, indent: str) -> list[str]:
    import textwrap
    return textwrap.wrap(text, 79, subsequent_indent=indent, break_on_hyphens=False) or [""]


def _all_reasons(a: Audit) -> list[Reason]:
    """Every reason of every range and block, for the legend."""
    return [r for x in a.ranges for r in x.reasons] + [r for v in a.blocks for r in v.reasons]
