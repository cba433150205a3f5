"""Driving ``movcheck watch`` in a watch-lab guest: boot with bcc's headers, start and stop the
watch, read its trace, and the kernel's own view of the blocks (the oracle)."""
from __future__ import annotations

import json
import os
import time
from typing import Callable

import pytest

from tests.watchlab.guest import Guest, GuestError
from tests.watchlab.headers import HeadersUnavailable, headers_tree

M = "/sys/devices/system/memory"
PARAMS = "/sys/module/memory_hotplug/parameters"
BLOCK = 128 << 20
DIMM = 512 << 20


def need(reason: str) -> None:
    """Fail in CI (the watch lab must run there); skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"watch lab cannot run in CI: {reason}")
    pytest.skip(reason)


def boot(series: str, firmware: str = "seabios") -> tuple[Guest, str]:
    """A booted guest of ``series`` and the environment prefix bcc needs there (its headers)."""
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/qemu-system-x86_64"):
        need("needs root and qemu-system-x86")
    from tests.lab.kernels import KernelUnavailable, resolve
    try:
        kernel = resolve(series)
        tree = headers_tree(kernel)
    except (KernelUnavailable, HeadersUnavailable) as exc:
        need(str(exc))
    env = "" if str(tree).startswith("/lib/modules/") else f"BCC_KERNEL_SOURCE={tree} "
    try:
        return Guest(kernel, firmware=firmware), env
    except GuestError as exc:
        pytest.fail(str(exc))


def add_dimm(g: Guest, name: str, node: int) -> dict | None:
    """Hot-add a DIMM through QMP: backend ``m-<name>``, device ``name`` on ``node``; the error
    reply that stopped it, None when both commands were taken."""
    for cmd, kw in (("object-add", {"qom-type": "memory-backend-ram", "id": f"m-{name}", "size": DIMM}),
                    ("device_add", {"driver": "pc-dimm", "id": name, "memdev": f"m-{name}", "node": node})):
        reply = g.qmp.cmd(cmd, **kw)
        if "error" in reply:
            return reply
    return None


def start_watch(g: Guest, env: str, name: str, options: str = "") -> str:
    """Start ``movcheck watch -o $W/<name>.jsonl`` in the background (pid in $W/<name>.pid) and
    wait until it watches (bcc compiles under TCG for minutes); its stderr so far."""
    return g.run(f"{env}.venv/bin/python -m observer.cli watch -o $W/{name}.jsonl {options} > $W/{name}.out"
                 f" 2> $W/{name}.err & echo $! > $W/{name}.pid; i=0; until grep -q 'Ctrl-C to stop' $W/{name}.err;"
                 f" do sleep 1; i=$((i+1)); [ $i -gt 900 ] && break; kill -0 $(cat $W/{name}.pid) || break; done;"
                 f" cat $W/{name}.err", timeout=960)


def stop_watch(g: Guest, name: str) -> None:
    """SIGINT the watch and wait for it to write its summary and exit."""
    g.run(f"kill -INT $(cat $W/{name}.pid); while kill -0 $(cat $W/{name}.pid) 2>/dev/null; do sleep 0.5; done")


def trace(g: Guest, name: str = "trace") -> list[dict]:
    """The records of ``$W/<name>.jsonl`` so far."""
    path = g.work / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait(g: Guest, cond: Callable[[], bool], timeout: float = 120, name: str = "watch") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timeout; trace tail: {trace(g, name)[-3:]}"
        time.sleep(0.5)


def kernel_blocks(g: Guest) -> dict[int, tuple[str, str]]:
    """block -> (state, valid_zones) as the guest kernel's sysfs shows them now."""
    out = g.run(f"for d in {M}/memory*; do echo ${{d##*memory}} $(cat $d/state) $(cat $d/valid_zones); done")
    return {int(p[0]): (p[1], p[2]) for p in (line.split() for line in out.splitlines()) if len(p) >= 3}
