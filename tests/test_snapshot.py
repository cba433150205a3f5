import hashlib
import os
import subprocess

import pytest

from probes import capture
from probes.cmdline import read_cmdline
from probes.hotplug_params import read_hotplug_params
from probes.iomem import read_iomem
from probes.kernel import read_release
from probes.memmap import read_memmap
from probes.memory_blocks import read_memory_blocks
from probes.nodes import read_nodes
from probes.reading import Status
from probes.root import Root, RootError, open_root
from probes.snapshot import expand, write_snapshot
from probes.srat import read_srat
from probes.zoneinfo import read_zoneinfo
from tests.vmdata import vm_root

READERS = (read_cmdline, read_zoneinfo, read_iomem, read_memmap, read_memory_blocks, read_nodes,
           read_hotplug_params, read_release, read_srat)
LSMEM = "/usr/bin/lsmem"


def readings(root):
    return {fn.__name__: (r.status, r.value) for fn in READERS for r in [fn(root)]}


def lsmem(root_dir):
    return subprocess.run([LSMEM, "--sysroot", str(root_dir), "-J", "-o", "RANGE,STATE,REMOVABLE,BLOCK,NODE,ZONES"],
                          check=True, capture_output=True, text=True).stdout


def test_directory_snapshot_reads_back_the_same(tmp_path):
    before = sorted(os.listdir(tmp_path))
    dest = tmp_path / "snap"
    with vm_root() as root:
        result = write_snapshot(root, str(dest))
        expected = readings(root)
        boot_log = root.read_bytes(capture.BOOT_LOG).value
    assert sorted(os.listdir(tmp_path)) == before + ["snap"]
    assert (result.files, result.links, result.skipped) == (994, 192, ())  # 192 blocks: 5 files and a node link each
    assert readings(Root(dest)) == expected
    assert expected["read_srat"][0] is Status.ABSENT  # the VM has no SRAT
    assert (dest / capture.BOOT_LOG).read_bytes() == boot_log
    assert os.readlink(dest / "sys/devices/system/memory/memory5/node0") == "../../node/node0"
    assert "32-199" in lsmem(dest)


def test_tar_snapshot_is_deterministic_and_reads_back(tmp_path):
    with vm_root() as root:
        a = write_snapshot(root, str(tmp_path / "a.tar.gz"))
        write_snapshot(root, str(tmp_path / "b.tar.gz"))
        expected = readings(root)
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.tar.gz", "b.tar.gz")]
    assert digest[0] == digest[1] and a.files == 994
    with open_root(str(tmp_path / "a.tar.gz")) as root:
        assert readings(root) == expected


def test_refuses_existing_destination(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"keep")
    (tmp_path / "d").mkdir()
    with vm_root() as root:
        for name in ("x.tar.gz", "d"):
            with pytest.raises(RootError, match="already exists"):
                write_snapshot(root, str(tmp_path / name))
    assert (tmp_path / "x.tar.gz").read_bytes() == b"keep" and os.listdir(tmp_path / "d") == []


def test_escaping_link_is_not_copied(tmp_path):
    src = tmp_path / "src"
    block = src / "sys/devices/system/memory/memory0"
    block.mkdir(parents=True)
    (src / "sys/devices/system/memory/block_size_bytes").write_text("8000000\n")
    (block / "state").write_text("online\n")
    os.symlink("../../../../../../../etc", block / "node0")
    os.symlink("/etc", block / "node1")
    result = write_snapshot(Root(src), str(tmp_path / "out"))
    assert result.links == 0 and result.files == 2
    assert sorted(p for p, _ in result.skipped) == [f"sys/devices/system/memory/memory0/node{n}" for n in (0, 1)]
    assert sorted(os.listdir(tmp_path / "out/sys/devices/system/memory/memory0")) == ["state"]


def test_expand_patterns(tmp_path):
    for n in (0, 1, 10):
        (tmp_path / f"sys/firmware/memmap/{n}").mkdir(parents=True)
        (tmp_path / f"sys/firmware/memmap/{n}/start").write_text("0x0\n")
    assert expand(Root(tmp_path), "sys/firmware/memmap/*/start") == [
        f"sys/firmware/memmap/{n}/start" for n in ("0", "1", "10")]
    assert expand(Root(tmp_path), "sys/nothing/*/x") == []


def test_live_machine_snapshot(tmp_path):
    """This machine (or any): every stable probe reads back equal; sysfs sizes of 4096 are not trusted."""
    live = Root("/")
    result = write_snapshot(live, str(tmp_path / "live"))
    snap = Root(tmp_path / "live")
    for fn in (read_cmdline, read_memmap, read_release, read_hotplug_params, read_srat):
        assert fn(snap) == fn(live)
    blocks = read_memory_blocks(live)
    if blocks.ok:
        assert read_memory_blocks(snap).value == blocks.value
        assert (tmp_path / "live/sys/devices/system/memory/block_size_bytes").stat().st_size < 20
    zones = read_zoneinfo(live)
    if zones.ok:
        assert [(z.node, z.name, z.start_pfn, z.spanned, z.present) for z in read_zoneinfo(snap).value.zones] == \
            [(z.node, z.name, z.start_pfn, z.spanned, z.present) for z in zones.value.zones]
    if os.geteuid() == 0:
        assert result.skipped == () and (tmp_path / "live" / capture.BOOT_LOG).stat().st_size > 0
