"""``pip install`` of the built wheel into a clean venv (no editable install, no checkout on the
path) gives a working ``movcheck`` with its package data, man pages, rules and units, and the
wheel ships only the two top-level packages ``observer`` and ``probes``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_fleet_prometheus import REPO, SERIES, promtool_check, samples

SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "observer", "probes", "man", "contrib", "doc")


def _run(argv: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{argv}: {proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
def test_wheel_installs_a_working_movcheck_with_its_data(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:  # a copy, so the build writes nothing into the checkout
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(tmp_path / "dist"), str(src)], tmp_path)
    [wheel] = (tmp_path / "dist").glob("movcheck-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"observer", "probes", "movcheck-0.1.0.dist-info", "movcheck-0.1.0.data"}
    data = "movcheck-0.1.0.data/data/share/"
    expected = ([f"{data}man/man8/{p.name}" for p in (REPO / "man/man8").glob("*.8")]
                + [f"{data}movcheck/systemd/{p.name}" for p in (REPO / "contrib/systemd").iterdir()]
                + [f"{data}movcheck/prometheus/movcheck.rules.yml", f"{data}bash-completion/completions/movcheck"]
                + [f"{data}doc/movcheck/examples/{p.name}" for p in (REPO / "doc/examples").iterdir()]
                + [f"probes/bpf/{p.name}" for p in (REPO / "probes/bpf").glob("*.c")])
    assert len(expected) > 20 and set(expected) <= set(names)
    metadata = zipfile.ZipFile(wheel).read("movcheck-0.1.0.dist-info/METADATA").decode()
    assert "\nVersion: 0.1.0\n" in metadata

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    _run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], tmp_path)
    where = _run([str(venv / "bin/python"), "-c", "import observer, probes.bpf as b; print(observer.__file__); "
                  "print(b.__path__[0])"], tmp_path).split()
    assert all(w.startswith(str(venv)) for w in where), where  # not the checkout
    assert list(Path(where[1]).glob("*.c"))  # the bpf program, beside its package
    text = _run([str(venv / "bin/movcheck"), "audit", "--root", str(SERIES / "hp_node2_movable_node.tar.gz"),
                 "--format", "prometheus"], tmp_path)
    promtool_check(text)
    assert samples(text)[("movcheck_node_removable", (("node", "2"),))] == 1
    page = _run(["man", "-w", "-M", str(venv / "share/man"), "movcheck-audit"], tmp_path).strip()
    assert page == str(venv / "share/man/man8/movcheck-audit.8")
    assert (venv / "share/movcheck/prometheus/movcheck.rules.yml").read_text() == \
        (REPO / "contrib/prometheus/movcheck.rules.yml").read_text()
