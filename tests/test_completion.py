"""The bash completion (contrib/bash-completion/movcheck) offers every command and exactly each
command's options, as bash itself completes them with the bash-completion library loaded."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from observer.cli import COMMANDS
from tests.test_docs import _options

SCRIPT = Path(__file__).resolve().parents[1] / "contrib" / "bash-completion" / "movcheck"
LIBRARY = Path("/usr/share/bash-completion/bash_completion")


def complete(line: str) -> list[str]:
    """What bash offers for the word at the end of ``line`` (``movcheck audit --f``)."""
    assert LIBRARY.exists(), "the bash-completion package is not installed"
    words = line.split(" ")
    script = (f"source {LIBRARY}; source {shlex.quote(str(SCRIPT))}; "
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
              f"COMP_LINE={shlex.quote(line)}; COMP_POINT={len(line)}; _movcheck; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return sorted(w for w in proc.stdout.splitlines() if w)


def test_commands_and_top_level_options() -> None:
    assert complete("movcheck ") == sorted(COMMANDS)
    assert complete("movcheck a") == ["audit"]
    assert complete("movcheck --") == ["--help", "--version"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_completes_exactly_its_options(command: str) -> None:
    assert complete(f"movcheck {command} -") == sorted(_options(command))


def test_option_values() -> None:
    assert complete("movcheck audit --format ") == ["json", "prometheus", "text"]
    assert complete("movcheck map --color a") == ["always", "auto"]
