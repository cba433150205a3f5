"""``movcheck check`` exit statuses on real captures: cannot tell, bad input, movablemem_map ignored."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_model_recordings import CAPTURES, _id, _run
from probes.root import unpack_recording

FIRST = CAPTURES[:1] + [c for c in CAPTURES if c.name.startswith(("hp_node2.", "hp_initrd_node."))][:2]


def _unpack(cap: Path, tmp: Path) -> Path:
    tmp.mkdir()
    unpack_recording(str(cap), str(tmp))
    return tmp


@pytest.mark.parametrize("cap", FIRST, ids=_id)
def test_cannot_tell_without_firmware_map(cap: Path, tmp_path: Path, capsys):
    tree = _unpack(cap, tmp_path / "t")
    (tree / "var/log/dmesg").unlink()
    shutil.rmtree(tree / "sys/firmware/memmap", ignore_errors=True)
    code, _ = _run("check", "--root", str(tree))
    assert code == 3
    assert "cannot tell" in capsys.readouterr().err


@pytest.mark.parametrize("cap", FIRST, ids=_id)
def test_bad_zoneinfo_is_bad_input(cap: Path, tmp_path: Path):
    tree = _unpack(cap, tmp_path / "t")
    (tree / "proc/zoneinfo").write_text("Node 0, zone DMA\n  spanned lots\n")
    code, _ = _run("check", "--root", str(tree))
    assert code == 2


@pytest.mark.parametrize("cap", FIRST, ids=_id)
def test_live_movablemem_map_is_ignored_by_the_kernel(cap: Path, tmp_path: Path):
    """The running kernel ignores movablemem_map=, so its real layout still agrees; check says why."""
    tree = _unpack(cap, tmp_path / "t")
    line = (tree / "proc/cmdline").read_text().strip()
    (tree / "proc/cmdline").write_text(line + " movablemem_map=acpi movablemem_map=1G@0x100000000\n")
    code, out = _run("check", "--root", str(tree))
    assert code == 0, out
    assert "ignores it" in out


@pytest.mark.parametrize("cap", FIRST, ids=_id)
def test_sysfs_memmap_replaces_a_lost_boot_log(cap: Path, tmp_path: Path):
    """Without the boot log the firmware map comes from sys/firmware/memmap and the kernel's
    own edits are assumed; the prediction still agrees and says what it assumed."""
    tree = _unpack(cap, tmp_path / "t")
    if not (tree / "sys/firmware/memmap").is_dir():
        pytest.fail("capture lacks sys/firmware/memmap")
    (tree / "var/log/dmesg").unlink()
    code, out = _run("check", "--root", str(tree))
    if "movable_node" in (tree / "proc/cmdline").read_text() and (tree / "sys/firmware/acpi/tables/SRAT").exists():
        assert code == 3  # the initrd's node decides which hot-pluggable nodes stay movable
        return
    assert "sys/firmware/memmap" in out
    assert code == 0, out


OFFLINED = [c for c in CAPTURES if c.name == "hp_node2_offline_boot.tar.gz"]


@pytest.mark.parametrize("cap", OFFLINED, ids=_id)
def test_offlined_boot_block_shown_online_disagrees_citing_offline_pages(cap: Path, tmp_path: Path):
    """Boot blocks 40, 47, 54 and 55 of node 2 are offline in the capture. Shown online again
    while zoneinfo stays, 47 (mid-zone) and 55 (the end) make the model's present and span
    differ from zoneinfo, and check names the offline rule."""
    tree = _unpack(cap, tmp_path / "t")
    for n in (47, 55):
        (tree / f"sys/devices/system/memory/memory{n}/state").write_text("online\n")
        (tree / f"sys/devices/system/memory/memory{n}/online").write_text("1\n")
    code, out = _run("check", "--root", str(tree))
    assert code == 1, out
    lines = [ln for ln in out.splitlines() if ln.startswith("node 2 zone Movable")]
    assert [ln.split(":")[1].split()[0] for ln in lines] == ["spanned", "present"], out
    assert all("rule offline-boot: mm/memory_hotplug.c offline_pages" in ln for ln in lines), out
