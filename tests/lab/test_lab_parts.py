"""Fast checks of the lab's own parts (no QEMU): cpio, guest script, console cutting, packing."""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile

import pytest

from probes import capture
from probes.srat import encode_srat, parse_srat
from tests.lab import initramfs, qemu, recording
from tests.lab.scenario import ScenarioError, load_all, loads, size


def _tgz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio not installed (make lab-deps)")
def test_newc_is_read_by_cpio() -> None:
    blob = initramfs.newc([("d", 0o040755, b"", 0), ("d/f", 0o100644, b"hello\n", 0),
                           ("d/l", 0o120777, b"f", 0), ("c", 0o020600, b"", (5 << 8) | 1)])
    out = subprocess.run(["cpio", "-itv"], input=blob, capture_output=True, check=True).stdout.decode()
    names = [line.split()[-1] if "->" not in line else line.split()[-3] for line in out.splitlines()]
    assert names == ["d", "d/f", "d/l", "c"]
    assert "5,   1" in out or "5, 1" in out


def test_initrd_carries_the_injected_srat_uncompressed_first() -> None:
    sc = load_all(["hp_node2_movable_node"])[0]
    table = encode_srat(sc.srat)
    assert parse_srat(table).memory == sc.srat.memory
    initrd = initramfs.build_initrd(sc, table)
    head = initramfs.acpi_upgrade_cpio(table)
    assert initrd.startswith(head) and head.startswith(b"070701")
    assert b"kernel/firmware/acpi/srat.aml\0" in head and table in head
    inner = gzip.decompress(initrd[len(head):])
    assert b"init\0" in inner and initramfs.guest_init(sc).encode() in inner


def test_guest_script_copies_every_capture_path() -> None:
    script = initramfs.capture_script()
    for path in capture.FILES:
        assert f"cpf {path}\n" in script + "\n"
    for pattern in capture.PATTERNS:
        fn = "cpl" if pattern.endswith("@") else "cpf"
        assert f"for p in /{pattern.rstrip('@')}; do {fn} " in script
    assert f"dmesg > /snap/{capture.BOOT_LOG}" in script


def _console(data: bytes, noise: bool) -> str:
    lines = base64.encodebytes(data).decode().splitlines()
    body = []
    for i, line in enumerate(lines):
        body.append(line + "\r")
        if noise and i % 3 == 0:
            body.append("[   12.345678] memory hot-add: noise\r")
    end = f"{initramfs.END_MARK} {len(data)} {hashlib.md5(data).hexdigest()}@@"
    return "\n".join(["boot chatter", initramfs.BEGIN_MARK + "\r", *body, end + "\r", "reboot: Power down"])


def test_cut_snapshot_survives_console_noise() -> None:
    data = _tgz({"proc/cmdline": b"x\n" * 500})
    assert qemu.cut_snapshot(_console(data, noise=True)) == data


def test_cut_snapshot_rejects_corrupt_or_missing_transfer() -> None:
    data = _tgz({"a": b"1"})
    text = _console(data, noise=False)
    with pytest.raises(qemu.BootError, match="corrupt"):
        qemu.cut_snapshot(text.replace(hashlib.md5(data).hexdigest(), "0" * 32))
    with pytest.raises(qemu.BootError, match="cut off"):
        qemu.cut_snapshot(text.split(initramfs.END_MARK)[0])
    with pytest.raises(qemu.BootError, match="no snapshot"):
        qemu.cut_snapshot("Kernel panic - not syncing")


def test_packing_is_deterministic_and_keeps_links() -> None:
    snap = _tgz({"b/x": b"2", "a": b"1", "lab/steps.log": b"step 1: guest: ok\n"})
    one = recording.record(snap, "cmdline = ''\n", "6.1.0-1-amd64", ["qemu"], ["step 1: host: ok"])
    two = recording.record(snap, "cmdline = ''\n", "6.1.0-1-amd64", ["qemu"], ["step 1: host: ok"])
    assert one == two
    members = recording.unpack(one)
    assert members["lab/steps.log"].data == b"step 1: host: ok\nstep 1: guest: ok\n"
    linked = dict(members, **{"m/node1": recording.Member(link="../../node/node1")})
    assert recording.unpack(recording.pack(linked))["m/node1"].link == "../../node/node1"
    with tarfile.open(fileobj=io.BytesIO(one)) as tar:
        names = tar.getnames()
        assert names == sorted(names) and {m.mtime for m in tar} == {0}


def test_scenario_sizes_and_errors() -> None:
    assert size("640K") == 655360 and size("0x1000") == 4096 and size("2G") == 2 << 30 and size(7) == 7
    with pytest.raises(ScenarioError):
        size("lots")
    with pytest.raises(ScenarioError, match="adds up"):
        loads('[machine]\nmemory = "6G"\nnodes = [{ memory = "2G" }]\n', "bad")
    with pytest.raises(ScenarioError, match="unknown step"):
        loads('[[steps]]\naction = "dance"\n', "bad")
