import io
import os
import tarfile
import tempfile

import pytest

import probes.root as root_mod
from probes.reading import Status
from probes.root import Root, RootError, open_root


def make_tar(path, members):
    """members: (name, kind, payload) with kind file/dir/sym/hard/chr/fifo."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            info.linkname = payload or ""
            tar.addfile(info)
    return path


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A private temp dir for unpacking; yields (archive dir, check) where check asserts no stray writes."""
    unpack_tmp = tmp_path / "tmp"
    unpack_tmp.mkdir()
    arch = tmp_path / "in"
    arch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(unpack_tmp))
    parent_before = sorted(os.listdir(tmp_path.parent))

    def check():
        assert os.listdir(unpack_tmp) == []  # the private dir was removed
        assert sorted(os.listdir(tmp_path)) == ["in", "tmp"]
        assert sorted(os.listdir(tmp_path.parent)) == parent_before
    return arch, check


OK_FILE = ("proc/cmdline", "file", "quiet\n")


@pytest.mark.parametrize("members, words", [
    ([OK_FILE, ("../evil", "file", "x")], "leaves the recording"),
    ([("a/../../evil", "file", "x")], "leaves the recording"),
    ([("/abs/evil", "file", "x")], "absolute name"),
    ([OK_FILE, ("sys/link", "sym", "../../../etc")], "leaves the recording"),
    ([("up", "sym", "..")], "leaves the recording"),
    ([("sys/abs", "sym", "/etc")], "leaves the recording"),
    ([OK_FILE, ("sys/hard", "hard", "proc/cmdline")], "hard link"),
    ([("dev/sda", "chr", None)], "device or fifo"),
    ([("dev/fifo", "fifo", None)], "device or fifo"),
    ([OK_FILE, ("proc/cmdline", "file", "second")], "appears twice"),
    ([("s", "sym", "sub"), ("s/f", "file", "x")], "appears twice"),
    ([("proc", "file", "x"), ("proc/cmdline", "file", "y")], "both a file and a directory"),
])
def test_hostile_members_refused(sandbox, members, words):
    arch, check = sandbox
    path = make_tar(str(arch / "bad.tar.gz"), members)
    with pytest.raises(RootError, match=words) as err:
        with open_root(path):
            pass
    assert path in str(err.value) and err.value.code == 2
    check()


def test_oversized_archive_refused(sandbox, monkeypatch):
    arch, check = sandbox
    path = make_tar(str(arch / "big.tar.gz"), [("a", "file", "x" * 100), ("b", "file", "y")])
    monkeypatch.setattr(root_mod, "MAX_BYTES", 50)
    with pytest.raises(RootError, match="larger than a recording"):
        with open_root(path):
            pass
    monkeypatch.setattr(root_mod, "MAX_BYTES", 1 << 30)
    monkeypatch.setattr(root_mod, "MAX_MEMBERS", 1)
    with pytest.raises(RootError, match="larger than a recording"):
        with open_root(path):
            pass
    check()


@pytest.mark.parametrize("blob", [
    b"",
    b"\x1f\x8b\x08\x00garbage-after-a-gzip-magic",
    b"not a tar at all" * 40,
])
def test_corrupt_archive_refused(sandbox, blob):
    arch, check = sandbox
    path = arch / "bad.tar.gz"
    path.write_bytes(blob)
    with pytest.raises(RootError, match="bad.tar.gz") as err:
        with open_root(str(path)):
            pass
    assert err.value.code == 2
    check()


def test_truncated_gzip_refused(sandbox):
    arch, check = sandbox
    good = make_tar(str(arch / "good.tar.gz"), [("proc/zoneinfo", "file", "x" * 5000)])
    data = open(good, "rb").read()
    (arch / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    os.unlink(good)
    with pytest.raises(RootError, match="cut.tar.gz"):
        with open_root(str(arch / "cut.tar.gz")):
            pass
    check()


def test_good_archive_with_inside_links(sandbox):
    arch, check = sandbox
    path = make_tar(str(arch / "ok.tar.gz"), [
        ("./", "dir", None), OK_FILE, ("sys/devices/system/node/node0/cpulist", "file", "0\n"),
        ("sys/devices/system/memory/memory0/node0", "sym", "../../node/node0")])
    with open_root(path) as root:
        assert root.read_text("proc/cmdline").value == "quiet\n"
        assert root.readlink("sys/devices/system/memory/memory0/node0").value == "../../node/node0"
        assert root.read_text("sys/devices/system/memory/memory0/node0/cpulist").value == "0\n"
        assert root.prefix.startswith(tempfile.gettempdir())
    check()


def test_missing_and_foreign_paths(tmp_path):
    with pytest.raises(RootError) as err:
        with open_root(str(tmp_path / "nothing.tar.gz")):
            pass
    assert err.value.code == 3
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(RootError, match="plain.txt: no line a Linux kernel prints: not a boot log") as err:
        with open_root(str(tmp_path / "plain.txt")):
            pass
    assert err.value.code == 2


def test_snapshot_link_leaving_the_root_is_malformed(tmp_path):
    snap = tmp_path / "snap"
    (snap / "proc").mkdir(parents=True)
    (tmp_path / "secret").write_text("outside\n")
    os.symlink("../../secret", snap / "proc/cmdline")
    os.symlink(str(tmp_path / "secret"), snap / "proc/zoneinfo")
    root = Root(snap)
    for rel in ("proc/cmdline", "proc/zoneinfo", "../secret", "proc/../../secret"):
        r = root.read_text(rel)
        assert r.status is Status.MALFORMED and "leaves the root" in r.problem, rel
    assert not root.exists("proc/cmdline") and not root.is_dir("..")
    # readlink never reads a link whose directory lies outside (probes/root.py fix).
    os.symlink("target", tmp_path / "outside-link")
    assert root.readlink("../outside-link").status is Status.MALFORMED
    os.symlink("..", snap / "up")
    assert root.readlink("up/outside-link").status is Status.MALFORMED
    assert root.readlink("proc/cmdline").value == "../../secret"  # a link's own text is fine to read


def test_reader_statuses(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "bin").write_bytes(b"\xff\xfe")
    (tmp_path / "locked").write_text("x")
    os.chmod(tmp_path / "locked", 0)
    root = Root(tmp_path)
    assert root.read_text("missing").status is Status.ABSENT
    assert root.read_text("dir").status is Status.MALFORMED
    assert root.read_text("bin").status is Status.MALFORMED and root.read_bytes("bin").value == b"\xff\xfe"
    assert root.listdir("dir").value == [] and root.listdir("bin").status is Status.ABSENT
    locked = root.read_text("locked")
    assert locked.status is (Status.OK if os.geteuid() == 0 else Status.DENIED)
    assert root.touched >= {"missing", "dir", "bin", "locked"}
