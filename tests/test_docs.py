"""The man pages render without warnings and cover every option; each command's examples file
(doc/examples, bcc style) shows what the command prints on the recordings today."""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from observer.cli import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[1]
MAN = REPO / "man" / "man8"
EXAMPLES = REPO / "doc" / "examples"
PROMPT = "  # "


def examples(text: str) -> list[tuple[str, list[str]]]:
    """The ``  # movcheck ...`` command lines of an examples file, each with the output lines
    under it (indented two spaces; prose starts at the margin)."""
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(PROMPT):
            current = []
            blocks.append((line[len(PROMPT):], current))
        elif current is not None and (line.startswith("  ") or not line):
            current.append(line[2:])
        else:
            current = None  # prose at the margin ends the output
    return [(cmd, "\n".join(out).rstrip("\n").splitlines()) for cmd, out in blocks]


def run_example(command: str) -> list[str]:
    """What ``command`` (``movcheck ARGS [| head -n N] [| grep -E RE]``) prints, run in the current
    directory."""
    stages = [shlex.split(s) for s in command.split(" | ")]
    assert stages[0][0] == "movcheck", command
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(stages[0][1:])
    lines = [ln.rstrip() for ln in out.getvalue().splitlines()]
    for stage in stages[1:]:
        if stage[:2] == ["head", "-n"]:
            lines = lines[:int(stage[2])]
        elif stage[:2] == ["grep", "-E"]:
            lines = [ln for ln in lines if re.search(stage[2], ln)]
        else:
            raise AssertionError(f"{command}: unsupported stage {stage}")
    return "\n".join(lines).rstrip("\n").splitlines()


def _man_text(page: Path) -> str:
    proc = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                          env=dict(os.environ, MANWIDTH="80"))
    assert proc.returncode == 0 and not proc.stderr, f"{page.name}: {proc.stderr}"
    return re.sub(".\b", "", proc.stdout)  # no overstrike bold and underline


def _options(command: str) -> set[str]:
    sub = build_parser([command])._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    return {s for a in sub._actions for s in a.option_strings}


@pytest.mark.parametrize("command", ("",) + COMMANDS)
def test_man_page_renders_without_warnings_and_documents_every_option(command: str) -> None:
    page = MAN / (f"movcheck-{command}.8" if command else "movcheck.8")
    text = _man_text(page)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"):
        assert f"\n{section}\n" in text, (page.name, section)
    options = _options(command) if command else {"-h", "--help", "--version", "--root"}
    section = text.split("\nOPTIONS\n")[1].split("\nEXIT STATUS\n")[0]
    tags = re.findall(r"^ {7}(-.*)$", section, re.M)  # the tag lines, at the outer indent
    documented = {o for tag in tags for o in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", tag)}
    assert documented == options, page.name
    if command:
        codes = re.findall(r"^       (\d)  ", text.split("\nEXIT STATUS\n")[1].split("\nFILES\n")[0], re.M)
        assert codes == sorted(codes) and {"0", "2", "4"} <= set(codes), page.name


@pytest.mark.parametrize("command", COMMANDS)
def test_examples_file_shows_what_the_command_prints_today(command: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name in ("recordings", "tests"):
        (tmp_path / name).symlink_to(REPO / name)
    monkeypatch.chdir(tmp_path)
    shown = examples((EXAMPLES / f"{command}_example.txt").read_text())
    assert shown and all(out for _, out in shown)
    for cmd, out in shown:
        assert run_example(cmd) == out, cmd
    man = (MAN / f"movcheck-{command}.8").read_text().split(".SH EXAMPLES")[1]
    for line in re.findall(r"^\.EX\n(.*)\n\.EE", man, re.M):  # the man page's examples are among them
        plain = line.replace("\\-", "-").replace("\\(dq", '"')
        assert any(cmd.split(" | ")[0] == plain for cmd, _ in shown), (command, plain)
