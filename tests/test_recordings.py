"""Fast checks over recordings/ (captures from real kernels booted by tests/lab): no QEMU here."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from probes import capture
from probes.firmware import firmware_from
from probes.memory_blocks import LOCK_FREE_FILES
from probes.bootlog import parse_boot_log
from probes.srat import parse_srat
from tests.lab.kernels import SERIES
from tests.lab.recording import RECORDINGS, Member, series_dir, split_series_dir, unpack
from tests.lab.scenario import ALL_KERNELS, SCENARIOS, loads

CAPTURES = sorted(RECORDINGS.glob("*/*.tar.gz"))
IDS = [f"{p.parent.name}/{p.name.removesuffix('.tar.gz')}" for p in CAPTURES]


@pytest.fixture(scope="module", params=CAPTURES, ids=IDS)
def cap(request: pytest.FixtureRequest) -> tuple[Path, dict[str, Member]]:
    return request.param, unpack(request.param.read_bytes())


def _text(members: dict[str, Member], name: str) -> str:
    return members[name].data.decode()


def _scenario(path: Path, members: dict[str, Member]):
    return loads(_text(members, "lab/scenario.toml"), path.name.removesuffix(".tar.gz"))


def test_enough_captures_on_every_series_and_firmware() -> None:
    assert len(CAPTURES) >= 160
    assert {split_series_dir(p.parent.name)[0] for p in CAPTURES} == set(ALL_KERNELS)
    assert {"6.1-uefi", "7.x-uefi"} <= {p.parent.name for p in CAPTURES}


def test_every_scenario_recorded_on_its_kernels() -> None:
    """A series/firmware folder, once recorded, holds every scenario meant for it: the scenario
    names the series and does not pin the other firmware (``firmware = "seabios"``: the file says why)."""
    folders = {p.name for p in RECORDINGS.iterdir() if p.is_dir()}
    for path in sorted(SCENARIOS.glob("*.toml")):
        sc = loads(path.read_text(), path.stem)
        for folder in (series_dir(s, fw) for s in sc.kernels for fw in sc.firmwares):
            if folder in folders:
                assert (RECORDINGS / folder / f"{sc.name}.tar.gz").exists(), f"{sc.name} not recorded in {folder}"


def test_recording_matches_current_scenario_file(cap) -> None:
    path, members = cap
    current = SCENARIOS / path.name.replace(".tar.gz", ".toml")
    assert current.exists(), f"{path}: no scenario file {current.name}"
    assert _text(members, "lab/scenario.toml") == current.read_text(), "scenario changed since recording: re-record"


def test_kernel_release_and_series(cap) -> None:
    path, members = cap
    release = _text(members, "lab/kernel-release").strip()
    assert _text(members, "proc/sys/kernel/osrelease").strip() == release
    assert re.fullmatch(SERIES[split_series_dir(path.parent.name)[0]][1], release)


def test_firmware_told_by_the_machine_facts(cap) -> None:
    """The firmware the lab booted (lab/firmware, its folder) is the one the guest's own facts
    show: sys/firmware/efi and the boot log's 'efi: EFI v' line (probes.firmware)."""
    path, members = cap
    booted = split_series_dir(path.parent.name)[1]
    assert _text(members, "lab/firmware").strip() == booted if "lab/firmware" in members else booted == "seabios"
    log = parse_boot_log(_text(members, capture.BOOT_LOG))
    efi_dir = any(n.startswith("sys/firmware/efi/") for n in members)
    assert efi_dir == (booted == "uefi")
    for told in (firmware_from(efi_dir, log), firmware_from(False, log)):  # the log alone tells too
        assert told is not None and told.kind == ("uefi" if booted == "uefi" else "bios")
    if booted == "uefi":
        assert firmware_from(efi_dir, log).describe() in ("UEFI 2.70 (EDK II)", "UEFI 2.7 (EDK II)")  # OVMF 2022.11; 7.x prints 2.7


def test_injected_srat_round_trips(cap) -> None:
    path, members = cap
    sc = _scenario(path, members)
    raw = members.get("sys/firmware/acpi/tables/SRAT")
    if not sc.nodes and not sc.slots:
        assert raw is None, "no -numa and no memory hotplug, yet the guest has an SRAT"
        return
    # QEMU 7.2 makes one NUMA node (and an SRAT) by itself when memory hotplug is on.
    assert raw is not None
    got = parse_srat(raw.data)
    if sc.srat is None:  # QEMU's own table
        assert (got.header.oem_id, got.header.oem_table_id) == ("BOCHS ", "BXPC    ")
        return
    assert got.memory == sc.srat.memory
    assert got.processors == sc.srat.processors
    assert got.header.oem_revision == sc.srat.header.oem_revision
    assert "ACPI: Table Upgrade: override [SRAT-BOCHS -BXPC    ]" in _text(members, capture.BOOT_LOG)


def test_capture_holds_what_the_kernel_provides(cap) -> None:
    path, members = cap
    sc = _scenario(path, members)
    names = set(members)
    for f in capture.FILES:
        if f == "sys/firmware/acpi/tables/SRAT" and not sc.nodes and not sc.slots:
            continue
        assert f in names, f"{path}: missing {f}"
    blocks = {m.group(1) for n in names if (m := re.fullmatch(r"sys/devices/system/memory/(memory\d+)/\w+", n))}
    assert blocks
    for b in blocks:
        for f in LOCK_FREE_FILES:  # older captures hold ``online`` too
            assert f"sys/devices/system/memory/{b}/{f}" in names, f"{path}: {b} lacks {f}"
        links = [n for n in names if re.fullmatch(rf"sys/devices/system/memory/{b}/node\d+", n)]
        assert links and all(members[n].link == f"../../node/{n.rsplit('/', 1)[1]}" for n in links)
        if len(links) > 1:  # a block across a node boundary of the SRAT is linked to both nodes
            start, end = int(b[6:]) << 27, (int(b[6:]) + 1) << 27
            assert sc.srat is not None and any(start < m.base < end for m in sc.srat.memory), f"{path}: {b}"
    for node in _nodes(_text(members, "sys/devices/system/node/online")):
        for f in ("cpulist", "meminfo"):
            assert f"sys/devices/system/node/node{node}/{f}" in names
    memmap = {n.split("/")[3] for n in names if n.startswith("sys/firmware/memmap/")}
    for entry in memmap:
        for f in ("start", "end", "type"):
            assert f"sys/firmware/memmap/{entry}/{f}" in names
    # memory_hotplug.online_policy came with 5.15 (e83a437faa62): Debian's 5.10 has no such file.
    has_policy = "sys/module/memory_hotplug/parameters/online_policy" in names
    assert has_policy == (split_series_dir(path.parent.name)[0] != "5.10")


def _nodes(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.strip().split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def test_boot_log_is_whole_and_matches_cmdline(cap) -> None:
    path, members = cap
    log = _text(members, capture.BOOT_LOG).splitlines()
    assert log[0].startswith("[    0.000000] Linux version ")
    cmdline = _text(members, "proc/cmdline").strip()
    assert f"[    0.000000] Command line: {cmdline}" in log
    sc = _scenario(path, members)
    if split_series_dir(path.parent.name)[1] == "uefi":
        # OVMF's QEMU kernel loader (X86QemuLoadImageLib) names the initrd it hands the EFI stub.
        assert cmdline.endswith(" initrd=initrd")
        cmdline = cmdline.removesuffix(" initrd=initrd")
    assert cmdline.endswith(sc.cmdline) and "nokaslr" in cmdline


def test_every_step_logged(cap) -> None:
    path, members = cap
    sc = _scenario(path, members)
    log = _text(members, "lab/steps.log")
    for n, step in enumerate(sc.steps, 1):
        assert re.search(rf"^step {n}: guest: ", log, re.M), f"{path}: step {n} ({step.action}) not logged"
        if step.action != "write":
            assert re.search(rf"^step {n}: host: ", log, re.M)


def test_pairs_differ_only_in_cmdline() -> None:
    scenarios = {p.stem: loads(p.read_text(), p.stem) for p in SCENARIOS.glob("*.toml")}
    pairs = [(s, scenarios[s.pair]) for s in scenarios.values() if s.pair]
    assert len(pairs) >= 8
    for a, b in pairs:
        assert a.cmdline != b.cmdline
        # Which series and firmwares it is booted on is not part of the machine (a scenario whose
        # option exists only from some series is paired with one that runs on all).
        same = ("name", "description", "text", "cmdline", "pair", "kernels", "firmwares")
        assert dataclasses.replace(a, **{k: getattr(b, k) for k in same}) == b, f"{a.name} vs {b.name}"
