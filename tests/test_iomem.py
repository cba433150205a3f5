import pytest

from probes.iomem import parse_iomem, read_iomem
from probes.reading import ParseError, Status
from probes.root import Root
from tests.vmdata import vm_root

HIDDEN = """\
00000000-00000000 : Reserved
00000000-00000000 : System RAM
  00000000-00000000 : Kernel code
00000000-00000000 : Persistent Memory (legacy)
"""


def test_vm_capture_exact():
    with vm_root() as root:
        r = read_iomem(root)
    io = r.value
    assert r.ok and not io.hidden
    ram = [(x.start, x.end) for x in io.named("System RAM")]
    assert ram == [(0x1000, 0x9FBFF), (0x100000, 0xBFFFFFFF), (0x100000000, 0x63FFFFFFF)]
    assert sum(x.size for x in io.named("System RAM")) == 0x9EC00 + 0xBFF00000 + 0x540000000
    kernel = {x.name: (x.start, x.end, x.depth) for x in io.named("System RAM")[1].children}
    assert kernel == {"Kernel code": (0x1000000, 0x2276F47, 1), "Kernel rodata": (0x2400000, 0x2E0CFFF, 1),
                      "Kernel data": (0x3000000, 0x327C17F, 1), "Kernel bss": (0x3B32000, 0x3C55FFF, 1)}
    ecam = io.named("PCI ECAM 0000 [bus 00-00]")[0]
    assert ecam.depth == 1 and ecam.children[0].name == "PCI Bus 0000:00" and ecam.children[0].depth == 2
    assert [x.name for x in io.ranges][:3] == ["Reserved", "System RAM", "Reserved"]
    assert len(list(io.walk())) == 27


def test_hidden_addresses_are_denied(tmp_path):
    io = parse_iomem(HIDDEN)
    assert io.hidden and [x.name for x in io.walk()] == ["Reserved", "System RAM", "Kernel code",
                                                         "Persistent Memory (legacy)"]
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/iomem").write_text(HIDDEN)
    r = read_iomem(Root(tmp_path))
    assert r.status is Status.DENIED and "hidden without root" in r.problem


def test_one_real_address_is_not_hidden():
    assert not parse_iomem("00000000-00000fff : Reserved\n00000000-00000000 : x\n").hidden


@pytest.mark.parametrize("text, words", [
    ("", "no ranges"),
    ("garbage\n", "not 'start-end : name'"),
    ("0-f : a\n    1-2 : b\n", "skips a nesting level"),
    ("  0-f : a\n", "skips a nesting level"),
    ("f-0 : a\n", "ends before it starts"),
])
def test_garbage(text, words):
    with pytest.raises(ParseError, match=words):
        parse_iomem(text)
