import pytest

from probes.memmap import FirmwareMapEntry, parse_memmap, read_memmap
from probes.reading import ParseError, Status
from probes.root import Root
from tests.vmdata import vm_root


def test_vm_capture_exact():
    with vm_root() as root:
        r = read_memmap(root)
    assert r.ok and r.value == (
        FirmwareMapEntry(0, 0x0, 0x9FBFF, "System RAM"),
        FirmwareMapEntry(1, 0x9FC00, 0xFFFFF, "Reserved"),
        FirmwareMapEntry(2, 0x100000, 0xBFFFFFFF, "System RAM"),
        FirmwareMapEntry(3, 0xEEC00000, 0xFEBFFFFF, "Reserved"),
        FirmwareMapEntry(4, 0x100000000, 0x63FFFFFFF, "System RAM"),
    )
    assert r.value[4].size == 21 << 30


def test_sorted_numerically():
    e = {str(i): {"start": hex(i << 20), "end": hex((i << 20) + 0xFFF), "type": "ACPI Tables"} for i in (10, 2, 1)}
    assert [x.index for x in parse_memmap(e)] == [1, 2, 10]


@pytest.mark.parametrize("entries, words", [
    ({"x": {"start": "0x0", "end": "0x1", "type": "a"}}, "not an integer"),
    ({"0": {"start": "0x0", "type": "a"}}, "no end"),
    ({"0": {"start": "0x10", "end": "0x1", "type": "a"}}, "end before start"),
    ({"0": {"start": "0x0", "end": "0x1", "type": " \n"}}, "empty type"),
])
def test_garbage(entries, words):
    with pytest.raises(ParseError, match=words):
        parse_memmap(entries)


def test_absent(tmp_path):
    assert read_memmap(Root(tmp_path)).status is Status.ABSENT
