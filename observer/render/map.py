"""The ``movcheck map`` picture: one row per fact along the physical address space.

Rows: SRAT nodes, SRAT hot-pluggable or not, RAM (holes marked), the zones the
kernel built, the zones the model predicts, each memory block's verdict, and the
boot reservations. :func:`map_rows` builds the rows as exact address segments;
:func:`render_terminal` draws them proportionally in a fixed width (every column
the same share of the address space, a tiny fact still visible in its column)
and :func:`render_svg` draws the same segments as a standalone SVG.
"""
from __future__ import annotations

from typing import Sequence
from xml.sax.saxutils import escape

from observer.audit.verdicts import Audit
from observer.audit.inputs import AuditFacts, ZoneSpan
from observer.render.output import fmt_size
from probes.records import frozen


@frozen
class Segment:
    """A piece ``[start, end)`` of a row, drawn in the style ``key``."""

    start: int
    end: int
    key: str  # a STYLES key
    text: str = ""  # what the SVG tooltip says


@frozen
class Row:
    """One labelled row of the map and its segments."""

    label: str
    segments: tuple[Segment, ...]
    note: str = ""  # shown instead of a bar when the row has no data
    sticky: bool = False  # small segments win their column (reservations)


#: key -> (terminal glyph, ANSI 256-colour background, SVG fill, legend text)
STYLES: dict[str, tuple[str, int, str, str]] = {
    "hotplug": ("H", 34, "#3cb371", "hot-pluggable (SRAT)"),
    "fixed": ("-", 244, "#a9a9a9", "not hot-pluggable"),
    "ram": ("=", 250, "#d3d3d3", "RAM at boot"),
    "dimm": ("+", 80, "#48d1cc", "hot-added (DIMM)"),
    "DMA": ("D", 131, "#cd5c5c", "DMA"),
    "DMA32": ("d", 173, "#f4a460", "DMA32"),
    "Normal": ("N", 167, "#e9967a", "Normal"),
    "Movable": ("M", 33, "#4682b4", "Movable"),
    "removable": ("+", 34, "#3cb371", "block removable"),
    "offlinable": ("o", 178, "#daa520", "offlinable, not ejectable"),
    "fixedblock": ("x", 160, "#b22222", "block not removable"),
    "unknown": ("?", 244, "#a9a9a9", "cannot tell"),
    "offline": (".", 250, "#eeeeee", "block offline"),
    "kernel-image": ("K", 196, "#ff0000", "kernel image"),
    "node-data": ("n", 129, "#9932cc", "NODE_DATA"),
    "initrd": ("i", 100, "#808000", "initrd"),
    "crashkernel": ("c", 95, "#875f5f", "crashkernel"),
    "cma": ("C", 97, "#8b008b", "CMA area"),
    "reserved": ("r", 95, "#875f5f", "reserved"),
}
#: Node colours avoid the greens and greys that mean hot-pluggable and fixed.
_NODE_COLOURS = ((25, "#1f77b4"), (130, "#ff7f0e"), (91, "#9467bd"), (124, "#d62728"),
                 (94, "#8c564b"), (162, "#e377c2"), (30, "#17becf"), (58, "#7f7f00"))
HOLE = "·"


def node_style(key: str) -> tuple[str, int, str, str]:
    """Glyph, colours and legend of ``node:N`` keys."""
    n = int(key[5:])
    term, svg = _NODE_COLOURS[n % len(_NODE_COLOURS)]
    return (str(n % 10), term, svg, f"node {n}")


def style(key: str) -> tuple[str, int, str, str]:
    return node_style(key) if key.startswith("node:") else STYLES[key]


def _ansi(key: str) -> str:
    """The escape that starts a cell of ``key``: its background, black text on light colours."""
    glyph, bg, _, _ = style(key)
    if bg >= 232:
        light = bg >= 244
    else:
        r, g, b = (bg - 16) // 36, (bg - 16) // 6 % 6, (bg - 16) % 6
        light = r * 299 + g * 587 + b * 114 >= 3000
    return f"\x1b[48;5;{bg}m\x1b[38;5;{16 if light else 15}m"


def _ram(facts: AuditFacts) -> list[tuple[int, int]]:
    """Where memory is: boot RAM plus hot-added ranges, else the memory blocks."""
    if facts.boot_ram is not None:
        return sorted(list(facts.boot_ram) + list(facts.hotadded))
    return [(b.start, b.end) for b in facts.blocks or ()]


def _clip(start: int, end: int, ram: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(max(start, s), min(end, e)) for s, e in ram if s < end and start < e]


def _zone_row(label: str, zones: Sequence[ZoneSpan] | None, ram: list[tuple[int, int]], note: str) -> Row:
    if zones is None:
        return Row(label, (), note)
    segs = [Segment(s, e, z.name, f"node {z.node} {z.name}: {fmt_size(z.present << 12)} present")
            for z in zones if z.present and z.start is not None and z.name in STYLES
            for s, e in _clip(z.start, z.end, ram)]  # type: ignore[arg-type]
    return Row(label, tuple(sorted(segs, key=lambda g: g.start)))


def map_rows(a: Audit, predicted: Sequence[ZoneSpan] | None, predicted_note: str = "") -> list[Row]:
    """The rows of the picture, top to bottom."""
    f = a.facts
    ram = _ram(f)
    rows: list[Row] = []
    if f.firmware:
        rows.append(Row("SRAT node", tuple(Segment(r.start, r.end, f"node:{r.node if r.node is not None else r.pxm}",
                                                   f"PXM {r.pxm} node {r.node}") for r in f.firmware)))
        rows.append(Row("hotplug", tuple(Segment(r.start, r.end, "hotplug" if r.hotpluggable else "fixed",
                                                 f"PXM {r.pxm}: {'hot-pluggable' if r.hotpluggable else 'fixed'}")
                                         for r in f.firmware)))
    else:
        note = "SRAT unreadable" if f.firmware is None else "no SRAT"
        rows.append(Row("SRAT node", (), note))
        nodes = [Segment(b.start, b.end, f"node:{b.node}", f"block {b.number}") for b in f.blocks or ()
                 if b.node is not None]
        rows.append(Row("node", tuple(nodes)))
    rows.append(Row("RAM", tuple([Segment(s, e, "ram", f"boot RAM {fmt_size(e - s)}") for s, e in f.boot_ram or ()]
                                 + [Segment(s, e, "dimm", f"hot-added {fmt_size(e - s)}") for s, e in f.hotadded])
                    if f.boot_ram is not None else tuple(Segment(s, e, "ram") for s, e in ram)))
    rows.append(_zone_row("zones", f.zones, ram, "zoneinfo unreadable"))
    rows.append(_zone_row("predicted", predicted, ram, predicted_note or "model not available"))
    blocks = []
    for v in a.blocks:
        key = ("offline" if v.block.state == "offline" else "unknown" if v.removable is None
               else "removable" if v.removable else "offlinable" if v.offlinable else "fixedblock")
        codes = ",".join(dict.fromkeys(r.code for r in v.reasons)) or "removable"
        blocks.append(Segment(v.block.start, v.block.end, key, f"block {v.block.number}: {codes}"))
    rows.append(Row("blocks", tuple(blocks)))
    rows.append(Row("reserved", tuple(Segment(r.start, r.end, r.kind if r.kind in STYLES else "reserved", r.label)
                                      for r in f.reservations), sticky=True))
    return rows


def extent(rows: list[Row]) -> int:
    """The end of the drawn address space: the last byte any row covers."""
    return max((s.end for r in rows for s in r.segments), default=0)


def _ticks(top: int) -> list[int]:
    """Round addresses for the axis: a power-of-two step giving 3 to 8 ticks."""
    step = 1 << 30
    while top // step > 8:
        step *= 2
    while top // step < 3 and step > 1 << 20:
        step //= 2
    return list(range(0, top + 1, step))


def _cell(row: Row, lo: int, hi: int) -> str | None:
    """The key shown in the column ``[lo, hi)``: a sticky row's any overlap, else the largest overlap."""
    best, best_len = None, 0
    for s in row.segments:
        ov = min(hi, s.end) - max(lo, s.start)
        if ov > 0 and (ov > best_len or (row.sticky and best is None)):
            best, best_len = s.key, ov
    return best


LABEL = 10


def render_terminal(rows: list[Row], width: int = 80, colour: bool = False) -> str:
    """Rows as text ``width`` columns wide; ANSI background colours when ``colour``."""
    bar = max(width - LABEL - 2, 10)
    top = extent(rows) or 1
    per = -(-top // bar)
    out = []
    for row in rows:
        head = f"{row.label[:LABEL]:<{LABEL}} "
        if not row.segments:
            out.append(head + f"({row.note})" if row.note else head)
            continue
        cells = []
        for c in range(bar):
            key = _cell(row, c * per, (c + 1) * per)
            if key is None:
                cells.append(HOLE if row.label == "RAM" else " ")
                continue
            glyph = style(key)[0]
            cells.append(f"{_ansi(key)}{glyph}\x1b[0m" if colour else glyph)
        out.append(head + "".join(cells))
    axis = [" "] * bar
    labels = [" "] * (bar + 8)
    for t in _ticks(top):
        col = min(t // per, bar - 1)
        axis[col] = "|"
        text = fmt_size(t) if t else "0"
        if all(ch == " " for ch in labels[col:col + len(text) + 1]):
            labels[col:col + len(text)] = list(text)
    out.append(" " * (LABEL + 1) + "".join(axis))
    out.append(" " * (LABEL + 1) + "".join(labels).rstrip())
    out.append(f"{'':{LABEL + 1}}one column = {fmt_size(per)}; {HOLE} no RAM")
    out += legend_lines(rows, width, colour)
    return "\n".join(out)


def legend_lines(rows: list[Row], width: int, colour: bool) -> list[str]:
    """The glyphs used, with their meaning, packed into lines of ``width``."""
    keys = list(dict.fromkeys(s.key for r in rows for s in r.segments))
    items = []
    for k in keys:
        glyph, _, _, text = style(k)
        mark = f"{_ansi(k)}{glyph}\x1b[0m" if colour else glyph
        items.append((f"{mark} {text}", len(glyph) + 1 + len(text)))
    lines, cur, cur_len = [], "", 0
    for text, n in items:
        if cur and cur_len + 2 + n > width:
            lines.append(cur)
            cur, cur_len = "", 0
        cur, cur_len = (f"{cur}  {text}", cur_len + 2 + n) if cur else (text, n)
    if cur:
        lines.append(cur)
    return lines


def render_svg(rows: list[Row], title: str) -> str:
    """The same rows as a standalone SVG document (exact proportions, a tooltip per segment)."""
    left, bar_w, row_h, gap, top_pad = 110, 860, 22, 6, 40
    top = extent(rows) or 1
    scale = bar_w / top
    height = top_pad + len(rows) * (row_h + gap) + 40
    keys = list(dict.fromkeys(s.key for r in rows for s in r.segments))
    height += -(-(len(keys) + 1) // 4) * 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + bar_w + 30}" height="{height}" '
           f'viewBox="0 0 {left + bar_w + 30} {height}" font-family="DejaVu Sans Mono, monospace" font-size="12">',
           '<defs><pattern id="hole" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#bbbbbb" '
           'stroke-width="2"/></pattern></defs>',
           '<rect width="100%" height="100%" fill="#ffffff"/>',
           f'<text x="10" y="22" font-size="15" font-weight="bold">{escape(title)}</text>']
    y = top_pad
    for row in rows:
        out.append(f'<text x="10" y="{y + 15}">{escape(row.label)}</text>')
        back = "url(#hole)" if row.label == "RAM" else "#fafafa"  # the RAM row marks holes
        out.append(f'<rect x="{left}" y="{y}" width="{bar_w}" height="{row_h}" fill="{back}" '
                   f'stroke="#dddddd"/>')
        if not row.segments and row.note:
            out.append(f'<text x="{left + 6}" y="{y + 15}" fill="#777777">({escape(row.note)})</text>')
        for s in row.segments:
            x = left + s.start * scale
            w = max((s.end - s.start) * scale, 1.5 if row.sticky else 0.5)
            _, _, fill, text = style(s.key)
            tip = f"{s.text or text} [{s.start:#x}-{s.end - 1:#x}] {fmt_size(s.end - s.start)}"
            out.append(f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row_h}" fill="{fill}" '
                       f'stroke="#ffffff" stroke-width="0.5"><title>{escape(tip)}</title></rect>')
            if w > 14 and s.key.startswith("node:"):
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + 15}" text-anchor="middle" fill="#ffffff">'
                           f'{s.key[5:]}</text>')
            elif w > 50 and s.key in ("DMA32", "Normal", "Movable"):
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + 15}" text-anchor="middle" fill="#ffffff">'
                           f'{s.key}</text>')
        y += row_h + gap
    for t in _ticks(top):
        x = left + t * scale
        out.append(f'<line x1="{x:.1f}" y1="{top_pad - 4}" x2="{x:.1f}" y2="{y}" stroke="#999999" '
                   f'stroke-dasharray="2,3"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 14}" text-anchor="middle" fill="#444444">'
                   f'{fmt_size(t) if t else "0"}</text>')
    y += 34
    keys.append("hole")
    for i, k in enumerate(keys):
        _, _, fill, text = style(k) if k != "hole" else ("", 0, "url(#hole)", "no RAM (hole)")
        lx, ly = left + (i % 4) * 215, y + (i // 4) * 20
        out.append(f'<rect x="{lx}" y="{ly - 11}" width="14" height="14" fill="{fill}" stroke="#666666" '
                   f'stroke-width="0.5"/><text x="{lx + 20}" y="{ly}">{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
