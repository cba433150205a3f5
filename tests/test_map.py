"""The map picture: proportional columns, holes marked, 80 columns, colour only when asked, valid SVG."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from observer.audit.verdicts import audit
from observer.cli import main
from observer.render.map import HOLE, LABEL, map_rows, render_svg, render_terminal
from tests.test_audit import G, machine, write_snapshot

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _rows():  # type: ignore[no-untyped-def]
    a = audit(machine())
    return map_rows(a, [z for z in machine().zones or ()], "")


def _bar(text: str, label: str) -> str:
    line = next(l for l in text.splitlines() if l.startswith(label))
    return ANSI.sub("", line)[LABEL + 1:]


def test_plain_rows_fit_80_columns_and_are_proportional() -> None:
    text = render_terminal(_rows(), 80, colour=False)
    assert "\x1b" not in text
    assert max(len(l) for l in text.splitlines()) <= 80
    bar = _bar(text, "hotplug")
    # SRAT ends at 21G: 68 columns of ~316M; node 2's hot-pluggable ranges start at 5G.
    per = -(-21 * G // len(bar))
    first_h = bar.index("H")
    assert first_h == (5 * G) // per
    assert set(bar[first_h:]) == {"H"} and set(bar[:first_h]) == {"-", " "}  # no SRAT range at 3G-4G
    ram = _bar(text, "RAM")
    hole = (3 * G + 512 * (1 << 20)) // per  # inside the 3G-4G PCI hole
    assert ram[hole] == HOLE and ram[0] == "=" and ram[(7 * G + 1) // per + 1] == "+"
    zones = _bar(text, "zones")
    assert zones[(6 * G) // per] == "M" and zones[(4 * G) // per + 1] == "N" and zones[hole] == " "
    reserved = _bar(text, "reserved")
    assert reserved[0] == "K"  # 45 MiB of kernel image, far below one column, still shown


def test_colour_when_asked_only() -> None:
    coloured = render_terminal(_rows(), 80, colour=True)
    assert "\x1b[48;5;" in coloured
    assert ANSI.sub("", coloured) == render_terminal(_rows(), 80, colour=False)


def test_svg_is_standalone_and_exact() -> None:
    svg = render_svg(_rows(), "lab")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    rects = root.findall("{http://www.w3.org/2000/svg}rect")
    tips = [r for r in rects if r.find("{http://www.w3.org/2000/svg}title") is not None]
    dimm = [r for r in tips if r.find("{http://www.w3.org/2000/svg}title").text.startswith("hot-added")]
    assert len(dimm) == 1
    x, w = float(dimm[0].get("x")), float(dimm[0].get("width"))
    # 860 px for 21 GiB: the DIMM [7G, 8G) starts at 110 + 7/21 * 860.
    assert abs(x - (110 + 860 * 7 / 21)) < 0.01 and abs(w - 860 / 21) < 0.01


def test_cli_map_piped_is_plain_and_writes_svg(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    snap = tmp_path / "snap"
    write_snapshot(str(snap))
    svg = tmp_path / "m.svg"
    assert main(["map", "--root", str(snap), "--svg", str(svg)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and max(len(l) for l in out.splitlines()) <= 80
    assert "predicted" in out and ET.parse(svg).getroot().tag.endswith("svg")
    assert main(["map", "--root", str(snap), "--color", "always"]) == 0
    assert "\x1b[48;5;" in capsys.readouterr().out


def test_auto_colour_follows_the_terminal_and_no_color(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    from observer.commands.map import use_colour
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour("auto") is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour("auto") is False and use_colour("always") is True
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    monkeypatch.delenv("NO_COLOR")
    assert use_colour("auto") is False
