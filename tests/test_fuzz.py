"""Every parser, fed random and mutated input, returns a value or raises ParseError: nothing else."""
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from probes import bootlog, cmdline, hotplug_params, iomem, kernel, memmap, memory_blocks, nodes, srat, zoneinfo
from probes.reading import ParseError
from tests.test_srat import QEMU_LIKE, table
from tests.vmdata import vm_root

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def seed(rel: str) -> str:
    with vm_root() as root:
        return root.read_text(rel).value


SEEDS = {
    "zoneinfo": seed("proc/zoneinfo"),
    "cmdline": seed("proc/cmdline") + " kernelcore=10% movablecore=0x4000M memmap=1G@4G,2G%8G-1+12,exactmap "
                                      'numa=fake=2 movablemem_map=1G@2G a="b c" -- x',
    "iomem": seed("proc/iomem"),
    "meminfo": seed("sys/devices/system/node/node0/meminfo"),
    "release": seed("proc/sys/kernel/osrelease"),
}


@st.composite
def mutated(draw, text: str):
    """``text`` with a few characters replaced, inserted or deleted, or a slice of it."""
    s = list(text)
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        pos = draw(st.integers(0, max(len(s) - 1, 0)))
        ch = draw(st.sampled_from(list(" \n\t-:=,%@#$!\"0123456789abcdefxX()") + [draw(st.characters())]))
        if op == "replace" and s:
            s[pos] = ch
        elif op == "insert":
            s.insert(pos, ch)
        elif op == "delete" and s:
            del s[pos]
        elif op == "cut":
            s = s[:pos]
    return "".join(s)


def text_input(name):
    return st.one_of(st.text(max_size=300), mutated(SEEDS[name]))


def check(fn, *args):
    try:
        fn(*args)
    except ParseError:
        pass


@FUZZ
@given(text_input("zoneinfo"))
def test_zoneinfo(text):
    check(zoneinfo.parse_zoneinfo, text)


@FUZZ
@given(text_input("cmdline"))
def test_cmdline(text):
    check(cmdline.parse_cmdline, text)
    for item in text.split(","):
        cmdline.parse_memmap_item(item)  # never raises: the kernel ignores bad items
        cmdline.parse_amount(item, True)


@FUZZ
@given(text_input("iomem"))
def test_iomem(text):
    check(iomem.parse_iomem, text)


@FUZZ
@given(text_input("meminfo"), st.text(max_size=20), st.text(max_size=20))
def test_nodes(text, cpulist, online):
    check(nodes.parse_node_meminfo, 0, text)
    check(nodes.parse_nodes, {"online": online}, {"node0": {"cpulist": cpulist, "meminfo": text}})


@FUZZ
@given(text_input("release"))
def test_release(text):
    check(kernel.parse_release, text)


SYSFS_TEXT = st.one_of(st.text(max_size=24), st.sampled_from(["0\n", "1\n", "online\n", "00000010\n", "Normal Movable\n",
                                                               "Y\n", "N\n", "contig-zones\n", "0x1000\n"]))


@FUZZ
@given(st.text(max_size=12), st.dictionaries(st.sampled_from(memory_blocks.BLOCK_FILES), SYSFS_TEXT),
       st.lists(st.text(max_size=8), max_size=3), SYSFS_TEXT)
def test_memory_block(name, files, links, size):
    check(memory_blocks.parse_block, name, files, links)
    check(memory_blocks.parse_block, "memory3", files, ["node" + x for x in links])
    check(memory_blocks.parse_block_size, size)


@FUZZ
@given(st.dictionaries(st.text(max_size=4), st.dictionaries(st.sampled_from(["start", "end", "type"]), SYSFS_TEXT),
                       max_size=3),
       st.dictionaries(st.sampled_from(list(hotplug_params.PARAMS) + ["auto_online_blocks"]), SYSFS_TEXT))
def test_memmap_and_hotplug(entries, params):
    check(memmap.parse_memmap, entries)
    check(hotplug_params.parse_hotplug_params, params)


SRAT_SEED = table(QEMU_LIKE)


@st.composite
def srat_bytes(draw):
    blob = bytearray(draw(st.one_of(st.just(SRAT_SEED), st.binary(max_size=200).map(lambda b: SRAT_SEED[:48] + b))))
    for _ in range(draw(st.integers(0, 6))):
        if blob:
            blob[draw(st.integers(0, len(blob) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        blob = blob[:draw(st.integers(0, len(blob)))]
    if draw(st.booleans()) and len(blob) >= 36:  # repair length and checksum to reach the subtable walk
        struct.pack_into("<I", blob, 4, len(blob))
        blob[9] = 0
        blob[9] = (-sum(blob)) & 0xFF
    return bytes(blob)


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.binary(max_size=300), srat_bytes()))
def test_srat(blob):
    check(srat.parse_srat, blob)


def test_srat_walk_is_reached():
    """The repaired mutations do reach subtable decoding (not only the header checks)."""
    blob = bytearray(SRAT_SEED)
    blob[48 + 1] = 0  # first subtable's length
    blob[9] = 0
    blob[9] = (-sum(blob)) & 0xFF
    with pytest.raises(ParseError, match="zero-length"):
        srat.parse_srat(bytes(blob))


@FUZZ
@given(st.one_of(st.text(max_size=300), mutated(seed("var/log/dmesg")[:6000])))
def test_boot_log(text):
    check(bootlog.parse_boot_log, text)
