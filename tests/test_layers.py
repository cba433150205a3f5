"""The layer rules, read from every module's imports (ast): the model imports no probe and does
no I/O; probes import nothing of observer; only the CLI imports a command, and no command
imports another."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted(p for pkg in ("observer", "probes") for p in (REPO / pkg).rglob("*.py"))
#: The record decorators (``@frozen``, ``@mutable``) sit in probes/ so that probes can use them;
#: they are pure (no I/O) and the one part of probes/ the model uses.
MODEL_MAY_IMPORT = {"probes.records"}
IO_MODULES = {"os", "io", "pathlib", "shutil", "subprocess", "socket", "tarfile", "glob", "tempfile", "select"}


def _name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` gives a.b and a.b.c), lazy imports too."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _calls_open(path: Path) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "open"
               for n in ast.walk(ast.parse(path.read_text())))


IMPORTS = {_name(p): _imports(p) for p in MODULES}
MODEL = [m for m in IMPORTS if m == "observer.model" or m.startswith("observer.model.")]


def test_the_tree_is_read() -> None:
    assert len(MODEL) >= 8 and "observer.cli" in IMPORTS and "probes.root" in IMPORTS


@pytest.mark.parametrize("module", MODEL)
def test_model_imports_no_probe_and_does_no_io(module: str) -> None:
    probes = {i for i in IMPORTS[module] if i.split(".")[0] == "probes" and i not in MODEL_MAY_IMPORT
              and not any(i.startswith(f"{m}.") for m in MODEL_MAY_IMPORT)}
    assert not probes, f"{module} imports {sorted(probes)}"
    io = {i for i in IMPORTS[module] if i.split(".")[0] in IO_MODULES}
    assert not io, f"{module} imports {sorted(io)}"
    path = REPO / (module.replace(".", "/") + ".py")
    assert not _calls_open(path if path.exists() else path.with_suffix("") / "__init__.py"), module


@pytest.mark.parametrize("module", [m for m in IMPORTS if m.startswith("probes")])
def test_probes_import_nothing_of_observer(module: str) -> None:
    assert not {i for i in IMPORTS[module] if i.split(".")[0] == "observer"}, module


@pytest.mark.parametrize("module", [m for m in IMPORTS if m.startswith("observer") and m != "observer.cli"])
def test_only_the_cli_imports_a_command(module: str) -> None:
    commands = {i for i in IMPORTS[module] if i.startswith("observer.commands.")
                and i.split(".")[2] != module.split(".")[-1]}
    assert not commands, f"{module} imports {sorted(commands)}"
