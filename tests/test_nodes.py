import pytest

from probes.nodes import parse_node_meminfo, parse_nodes, read_nodes
from probes.reading import ParseError, Status
from probes.root import Root
from probes.sysfs import parse_list
from tests.vmdata import vm_root


def test_vm_capture_exact():
    with vm_root() as root:
        r = read_nodes(root)
    n = r.value
    assert r.ok and n.online == n.possible == n.has_memory == n.has_normal_memory == n.has_cpu == {0}
    assert len(n.nodes) == 1 and n.nodes[0].number == 0 and n.nodes[0].cpus == {0, 1}
    mi = n.nodes[0].meminfo
    assert mi["MemTotal"] == 6121248 and mi["MemFree"] == 4855868 and mi["HugePages_Total"] == 0
    assert n.nodes[0].mem_total_kb == 6121248 and len(mi) == 36


@pytest.mark.parametrize("text, nodes", [
    ("0-2,4\n", {0, 1, 2, 4}), ("\n", set()), ("3", {3}), ("0,2-3", {0, 2, 3})])
def test_node_lists(text, nodes):
    assert parse_list(text, "x") == nodes


@pytest.mark.parametrize("text", ["a", "2-1", "1-", "-1", "0,,1", "1-2-3"])
def test_bad_lists(text):
    with pytest.raises(ParseError):
        parse_list(text, "x")


def test_two_nodes_memoryless_second():
    n = parse_nodes({"online": "0-1\n", "possible": "0-3\n", "has_memory": "0\n", "has_cpu": "0-1\n"},
                    {"node1": {"cpulist": "1\n", "meminfo": "Node 1 MemTotal:       0 kB\n"},
                     "node0": {"cpulist": "0\n"}})
    assert n.possible == {0, 1, 2, 3} and n.has_memory == {0} and n.has_normal_memory is None
    assert [(x.number, x.cpus, x.mem_total_kb) for x in n.nodes] == [(0, {0}, None), (1, {1}, 0)]


@pytest.mark.parametrize("text", ["Node 0 MemTotal 5 kB", "Node 1 MemTotal: 5 kB", "MemTotal: 5 kB",
                                  "Node 0 MemTotal: x kB"])
def test_bad_meminfo(text):
    with pytest.raises(ParseError):
        parse_node_meminfo(0, text)


def test_reader_statuses(tmp_path):
    assert read_nodes(Root(tmp_path)).status is Status.ABSENT
    d = tmp_path / "sys/devices/system/node"
    (d / "node0").mkdir(parents=True)
    (d / "online").write_text("0\n")
    (d / "node0/cpulist").write_text("0-x\n")
    r = read_nodes(Root(tmp_path))
    assert r.status is Status.MALFORMED and "node0/cpulist" in r.problem
