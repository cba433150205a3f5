import pytest

from probes.cmdline import (Amount, MemmapEntry, Param, memparse, next_arg, parse_amount, parse_cmdline,
                            parse_memmap_item, read_cmdline, resolve_core, simple_strtoull, tokenize)
from probes.reading import ParseError, Status
from probes.root import Root
from tests.vmdata import vm_root

G = 1 << 30


def test_vm_capture_exact():
    with vm_root() as root:
        r = read_cmdline(root)
    c = r.value
    assert r.ok and c.raw.startswith("mitigations=auto,no_guest_host") and not c.raw.endswith("\n")
    assert [p.name for p in c.params] == [
        "mitigations", "console", "quiet", "reboot", "panic", "nomodule", "random.trust_cpu", "swiotlb", "psi",
        "nvproxy.enable", "page_reporting.page_reporting_order", "deferred_init", "nested_pvm",
        "rcupdate.rcu_cpu_stall_cputime", "sched_vcpu_pack", "rdinit"]
    assert c.params[0] == Param("mitigations", "auto,no_guest_host,no_guest_guest")
    assert c.params[2] == Param("quiet", None)
    assert c.init_args == ("--firecracker-init", "--addr", "0.0.0.0:2024", "--max-ws-buffer-size", "32768",
                           "--block-local-connections", "--log-vsock-port", "5002", "--control-vsock-port",
                           "5001", "--listen-vsock-port", "2024", "--tcp-readiness-only", "--auth-required")
    assert not c.movable_node and not c.kernelcore.given and not c.movablecore.given
    assert c.mem == () and c.memmap == () and c.mem_limit is None and not c.nokaslr
    assert c.values("panic") == ("1",) and c.memhp_default_state is None


@pytest.mark.parametrize("text, params, rest", [
    ('a=b c', [Param("a", "b")], "c"),
    ('a="b c" d', [Param("a", "b c")], "d"),
    ('"a b" c', [Param("a b", None)], "c"),
    ('"a=b c"  d', [Param("a", "b c")], "d"),
    ('x="" y', [Param("x", "")], "y"),
    ('x=" y', [Param("x", " y")], ""),   # an unclosed quote runs to the end
    ('a=b=c', [Param("a", "b=c")], ""),
    ('a=', [Param("a", "")], ""),
    ('a\tb', [Param("a", None)], "b"),
])
def test_next_arg(text, params, rest):
    param, left = next_arg(text)
    assert [param] == params and left == rest


def test_tokenize_double_dash_and_spaces():
    params, init = tokenize("  movable_node   kernelcore=1G -- movablecore=2G x=1 \"a b\"\n")
    assert params == (Param("movable_node", None), Param("kernelcore", "1G"))
    assert init == ("movablecore=2G", "x=1", "a b")
    # "--" with a value is an ordinary parameter, not the end.
    assert tokenize("--=1 a")[0] == (Param("--", "1"), Param("a", None))


@pytest.mark.parametrize("text, value, end", [
    ("123", 123, 3), ("0x1f", 31, 4), ("0X1Fg", 31, 4), ("010", 8, 3), ("08", 0, 1), ("0x", 0, 1),
    ("abc", 0, 0), ("", 0, 0), ("18446744073709551617", 1, 20),
])
def test_simple_strtoull(text, value, end):
    assert simple_strtoull(text) == (value, end)


@pytest.mark.parametrize("text, value, end", [
    ("4G", 4 * G, 2), ("4g", 4 * G, 2), ("512M", 512 << 20, 4), ("1k", 1024, 2), ("2T", 2 << 40, 2),
    ("1P", 1 << 50, 2), ("1E", 1 << 60, 2), ("16E", 0, 3), ("0x100000000", 1 << 32, 11), ("1Gfoo", G, 2),
    ("1B", 1, 1), ("G", 0, 1),
])
def test_memparse(text, value, end):
    assert memparse(text) == (value, end)


def test_amount_forms():
    assert parse_amount("20%", True) == Amount("20%", "percent", 20)
    assert parse_amount("0x10%", False) == Amount("0x10%", "percent", 16)
    assert parse_amount("4G", True).pages == 4 * G >> 12
    assert parse_amount("4097", False).pages == 1  # bytes >> PAGE_SHIFT truncates
    assert parse_amount("mirror", True).kind == "mirror"
    assert parse_amount("mirror", False) == Amount("mirror", "bytes", 0)  # movablecore has no mirror
    assert parse_amount("foo,mirror", True).kind == "mirror"  # parse_option_str
    assert parse_amount("mirrors", True).kind == "bytes"


def test_repeated_core_options_follow_the_kernel():
    c = parse_cmdline("kernelcore=10% kernelcore=1G")  # a later byte value clears the percent
    assert (c.kernelcore.pages, c.kernelcore.percent) == (G >> 12, 0)
    c = parse_cmdline("kernelcore=1G kernelcore=10%")  # a later percent leaves the bytes
    assert (c.kernelcore.pages, c.kernelcore.percent) == (G >> 12, 10)
    c = parse_cmdline("movablecore=2G movablecore=3G")
    assert c.movablecore.pages == 3 * G >> 12 and len(c.movablecore.occurrences) == 2
    c = parse_cmdline("kernelcore=mirror kernelcore=2G")
    assert c.kernelcore.mirror and c.kernelcore.pages == 2 * G >> 12
    assert resolve_core([]).given is False
    # No "=": the kernel's handler gets NULL and refuses it.
    assert not parse_cmdline("kernelcore movablecore").kernelcore.given


@pytest.mark.parametrize("item, entry", [
    ("exactmap", MemmapEntry("exactmap", "exactmap")),
    ("1G@4G", MemmapEntry("1G@4G", "add", G, 4 * G, 0, 1)),
    ("64K#0x7000", MemmapEntry("64K#0x7000", "add", 64 << 10, 0x7000, 0, 3)),
    ("2G$0x100000000", MemmapEntry("2G$0x100000000", "add", 2 * G, 1 << 32, 0, 2)),
    ("4G!12G", MemmapEntry("4G!12G", "add", 4 * G, 12 * G, 0, 12)),
    ("1G!8Gjunk", MemmapEntry("1G!8Gjunk", "add", G, 8 * G, 0, 12)),  # applied, then -EINVAL
    ("1G%4G-1+2", MemmapEntry("1G%4G-1+2", "update", G, 4 * G, 1, 2)),
    ("1G%4G+12", MemmapEntry("1G%4G+12", "add", G, 4 * G, 0, 12)),
    ("1G%4G-1", MemmapEntry("1G%4G-1", "remove", G, 4 * G, 1, 0)),
    ("1G%4G", MemmapEntry("1G%4G", "remove", G, 4 * G, 0, 0)),
    ("1G%4G-1x", MemmapEntry("1G%4G-1x", "invalid", G, 4 * G, 1, 0, applied=False)),
    ("3G", MemmapEntry("3G", "limit", 3 * G)),
    ("nope", MemmapEntry("nope", "invalid", applied=False)),
    ("", MemmapEntry("", "invalid", applied=False)),
])
def test_memmap_items(item, entry):
    assert parse_memmap_item(item) == entry


def test_memmap_lists_and_repeats():
    c = parse_cmdline("memmap=exactmap,640K@0,1G@1M memmap=2G$6G")
    assert [e.action for e in c.memmap] == ["exactmap", "add", "add", "add"]
    assert [(e.start, e.size) for e in c.memmap[1:]] == [(0, 640 << 10), (1 << 20, G), (6 * G, 2 * G)]


def test_mem_numa_hotplug_and_others():
    c = parse_cmdline("mem=8G mem=0 mem=nopentium mem=6G numa=noacpi numa=fake=4U numa=nohmat,x "
                      "memhp_default_state=online_movable memhp_default_state=online "
                      "memory_hotplug.online_policy=auto-movable memory_hotplug.online_policy=bogus "
                      "memory-hotplug.auto-movable-ratio=0x20 memory_hotplug.auto_movable_ratio=oops "
                      "memory_hotplug.auto_movable_numa_aware=n memory_hotplug.memmap_on_memory "
                      "nokaslr crashkernel=256M crashkernel=64M,low movable-node")
    assert c.mem == (8 * G, 6 * G) and c.mem_limit == 6 * G
    assert (c.numa.off, c.numa.noacpi, c.numa.nohmat, c.numa.fake) == (False, True, True, "4U")
    assert c.memhp_default_state == "online"
    hp = c.memory_hotplug
    assert (hp.online_policy, hp.auto_movable_ratio, hp.auto_movable_numa_aware, hp.memmap_on_memory) == \
        ("auto-movable", 32, False, "1")
    assert c.nokaslr and c.crashkernel == ("256M", "64M,low") and c.movable_node
    assert parse_cmdline("numa=offline").numa.off  # numa_setup tests prefixes


def test_movable_node_after_dashes_is_for_init():
    c = parse_cmdline("quiet -- movable_node")
    assert not c.movable_node and c.init_args == ("movable_node",)
    assert parse_cmdline("movable_node=0").movable_node  # the handler ignores the value


def test_movablemem_map_proposal():
    c = parse_cmdline("movablemem_map=4G@8G movablecore_map=0x40000000@0x200000000 movablemem_map=acpi "
                      "movablemem_map=4G movablemem_map=1G@")
    m = c.movablemem_map
    assert m.acpi and m.ranges == ((8 * G, 4 * G), (8 * G, G)) and m.invalid == ("4G", "1G@")
    assert parse_cmdline("movablecore_map=1G@2G movablemem_map=1G@3G").movablemem_map.ranges == ((2 * G, G), (3 * G, G))
    assert not parse_cmdline("quiet").movablemem_map.given


def test_nul_is_malformed(tmp_path):
    with pytest.raises(ParseError):
        parse_cmdline("a\0b")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cmdline").write_bytes(b"a\0b\n")
    assert read_cmdline(Root(tmp_path)).status is Status.MALFORMED
    assert read_cmdline(Root(tmp_path / "none")).status is Status.ABSENT
