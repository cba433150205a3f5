import pytest

from probes.hotplug_params import HotplugParams, parse_hotplug_params, read_hotplug_params
from probes.reading import ParseError, Status
from probes.root import Root
from tests.vmdata import vm_root


def test_vm_capture_exact():
    with vm_root() as root:
        r = read_hotplug_params(root)
    assert r.ok and r.value == HotplugParams("contig-zones", 301, True, "N", "offline")


def test_older_kernel_has_only_some(tmp_path):
    # Before 5.15 only memmap_on_memory (5.13+) and auto_online_blocks exist.
    (tmp_path / "sys/module/memory_hotplug/parameters").mkdir(parents=True)
    (tmp_path / "sys/module/memory_hotplug/parameters/memmap_on_memory").write_text("Y\n")
    (tmp_path / "sys/devices/system/memory").mkdir(parents=True)
    (tmp_path / "sys/devices/system/memory/auto_online_blocks").write_text("online_movable\n")
    r = read_hotplug_params(Root(tmp_path))
    assert r.ok and r.value == HotplugParams(None, None, None, "Y", "online_movable")


def test_none_is_absent(tmp_path):
    r = read_hotplug_params(Root(tmp_path))
    assert r.status is Status.ABSENT


@pytest.mark.parametrize("files, words", [
    ({"auto_online_blocks": "sometimes\n"}, "unknown online type"),
    ({"auto_movable_ratio": "-1\n"}, "non-negative"),
    ({"auto_movable_numa_aware": "1\n"}, "not Y or N"),
    ({"online_policy": "\n"}, "empty"),
])
def test_garbage(files, words):
    with pytest.raises(ParseError, match=words):
        parse_hotplug_params(files)
