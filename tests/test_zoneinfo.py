import pytest

from probes.reading import ParseError, Status
from probes.root import Root
from probes.zoneinfo import parse_zoneinfo, read_zoneinfo
from tests.vmdata import vm_root

# A two-node layout as Linux 4.4 prints it: an empty zone has no start_pfn line and the
# older kernel has no "managed" for the Device zone it does not have.
OLD_TWO_NODES = """\
Node 0, zone      DMA
  pages free     3977
        min      4
        spanned  4095
        present  3998
        managed  3977
    nr_free_pages 3977
        protection: (0, 2973, 2973, 2973)
  pagesets
    cpu: 0
              count: 0
  all_unreclaimable: 0
  start_pfn:         1
  inactive_ratio:    1
Node 0, zone    DMA32
  pages free     700000
        spanned  782304
        present  782304
        managed  761115
        protection: (0, 0, 0, 0)
  start_pfn:         4096
Node 1, zone   Normal
  pages free     0
        spanned  0
        present  0
        managed  0
        protection: (0, 0, 0, 0)
Node 1, zone  Movable
  pages free     262144
        spanned  262144
        present  262144
        managed  262144
        protection: (0, 0, 0, 0)
  start_pfn:         1048576
"""


def test_vm_capture_exact():
    with vm_root() as root:
        r = read_zoneinfo(root)
    assert r.ok and r.source == "proc/zoneinfo"
    got = [(z.node, z.name, z.start_pfn, z.spanned, z.present, z.managed) for z in r.value.zones]
    assert got == [
        (0, "DMA", 1, 4095, 3998, 3840),
        (0, "DMA32", 4096, 1044480, 782336, 772808),
        (0, "Normal", 1048576, 5505024, 5505024, 753664),
        (0, "Movable", None, 0, 0, 0),
        (0, "Device", None, 0, 0, 0),
    ]
    normal = r.value.zone(0, "Normal")
    assert normal.free == 437319 and normal.protection == (0, 0, 0, 0, 0)
    assert r.value.zone(0, "DMA").protection == (0, 3018, 5962, 5962, 5962)
    # Normal ends where /proc/iomem's last System RAM range ends (0x63fffffff).
    assert normal.end_pfn << 12 == 0x640000000
    assert r.value.nodes == (0,) and r.value.zone(1, "Normal") is None


def test_two_nodes_old_format():
    info = parse_zoneinfo(OLD_TWO_NODES)
    assert info.nodes == (0, 1)
    assert info.zone(0, "DMA").start_pfn == 1 and info.zone(0, "DMA").managed == 3977
    empty = info.zone(1, "Normal")
    assert (empty.start_pfn, empty.spanned, empty.present, empty.end_pfn) == (None, 0, 0, None)
    mov = info.zone(1, "Movable")
    assert (mov.start_pfn, mov.end_pfn, mov.protection) == (1048576, 1310720, (0, 0, 0, 0))


def test_managed_absent_is_none():
    info = parse_zoneinfo("Node 0, zone Normal\n  spanned 10\n  present 8\n  start_pfn: 5\n")
    assert info.zones[0].managed is None and info.zones[0].start_pfn == 5


@pytest.mark.parametrize("text, words", [
    ("", "no 'Node N, zone'"),
    ("hello\n", "before the first"),
    ("Node 0, zone Normal\n  present 8\n", "no spanned"),
    ("Node 0, zone Normal\n  spanned x\n  present 8\n", "not an integer"),
    ("Node 0, zone Normal\n  spanned 1\n  present 1\n  protection: 0, 1\n", "bad protection"),
])
def test_garbage(text, words):
    with pytest.raises(ParseError, match=words):
        parse_zoneinfo(text)


def test_reader_absent_and_malformed(tmp_path):
    assert read_zoneinfo(Root(tmp_path)).status is Status.ABSENT
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/zoneinfo").write_text("Node 0, zone Normal\n  present 8\n")
    r = read_zoneinfo(Root(tmp_path))
    assert r.status is Status.MALFORMED and "no spanned" in r.problem
