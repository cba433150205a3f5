"""UEFI boots (OVMF) against the model's EFI rules, on real logs and the lab's UEFI recordings.

``k510-``, ``k61-`` and ``k72-uefi-3node-efi-memblock-debug``: Debian 5.10.0-46, 6.1.0-57 and
7.2.13 under Debian 12's OVMF, scenario hp_node2_movable_node with ``efi=debug memblock=debug``
added: the EFI memory map the stub turned into the e820 table, every memblock call of the
boot, and the e820 edit that efi_mem_reserve made after memblock was built (the BGRT image).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from observer.model_inputs import gather, memblock_setup_index
from observer.model import memblock
from observer.model.boot import predict
from probes import bootlog_events as ev
from probes.bootlog import parse_boot_log
from probes.root import open_root
from tests.lab.recording import RECORDINGS, split_series_dir

DATA = Path(__file__).parent / "data" / "bootlog"
UEFI = sorted(RECORDINGS.glob("*-uefi/*.tar.gz"))


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name[:-7]}"


#: debug log -> the BGRT image's page range efi_arch_mem_reserve turned into reserved e820
DEBUG_LOGS = {"k510-uefi-3node-efi-memblock-debug": (0xBE118000, 0xBE121000),
              "k61-uefi-3node-efi-memblock-debug": (0xBE000000, 0xBE009000),
              "k72-uefi-3node-efi-memblock-debug": (0xBD9FE000, 0xBDA07000)}


@pytest.mark.parametrize("name", DEBUG_LOGS)
def test_efi_debug_log_memblock_is_built_before_the_late_e820_edit(name: str) -> None:
    log = parse_boot_log((DATA / f"{name}.dmesg").read_text())
    events = list(log.events)
    cut = memblock_setup_index(log)
    adds = [e for e in events if isinstance(e, ev.MemblockRange) and e.caller.startswith("e820__memblock_setup")]
    assert adds and all(events.index(a) >= cut for a in adds)  # the boundary precedes every memblock_add
    late = [e for e in events[cut:] if isinstance(e, ev.E820Change)]
    assert [(e.start, e.end, e.old_type, e.new_type) for e in late] == [(*DEBUG_LOGS[name], "usable", "reserved")]
    # efi_mem_reserve: memblock_reserve() of the BGRT image, then efi_arch_mem_reserve's e820 update
    before = [e for e in events[:events.index(late[0])] if isinstance(e, ev.MemblockRange)]
    assert any(e.func == "memblock_reserve" and e.caller.startswith("efi_mem_reserve") for e in before[-3:])
    # memblock.memory as the kernel built it equals the model's, from the edits before the boundary
    facts_ops = [e for e in events[:cut] if isinstance(e, ev.E820Change)]
    table = memblock.from_entries(log.e820_map)
    table = memblock.apply_ops(table, [memblock.E820Op(e.start, e.end, e.old_type or None, e.new_type)
                                       for e in facts_ops])
    model = [(r.start, r.end) for r in memblock.memblock_from_e820(table).regions]
    dumped = [(r.start, r.end) for r in log.of(ev.MemblockRegion) if r.table == "memory"][:len(model)]
    assert dumped == model
    assert any(s <= late[0].start and late[0].end <= e for s, e in model)  # still memblock.memory


@pytest.mark.parametrize("name", DEBUG_LOGS)
def test_efi_debug_log_boot_services_are_reserved_not_removed(name: str) -> None:
    """efi_reserve_boot_services memblock_reserve()s EFI boot-services code and data: RAM in e820
    (the stub's setup_e820 gives them E820_TYPE_RAM), so present pages keep them."""
    log = parse_boot_log((DATA / f"{name}.dmesg").read_text())
    reserved = [e for e in log.of(ev.MemblockRange) if e.caller.startswith("efi_reserve_boot_services")]
    ram = [(e.start, e.end) for e in log.e820_map if e.type == "usable"]
    assert len(reserved) > 50
    assert all(any(s <= r.start and r.end <= e for s, e in ram) for r in reserved)
    assert not [e for e in log.of(ev.MemblockRange) if e.func == "memblock_remove"]


@pytest.mark.parametrize("archive", UEFI, ids=_id)
def test_uefi_recording_late_e820_edits_do_not_reach_present_pages(archive: Path) -> None:
    """On each UEFI recording the late edits lie inside the kernel's own listing of memblock.memory
    (its 'Early memory node ranges'); applying them before memblock, as a SeaBIOS-only model did,
    would lose their pages from the present counts (test_model_recordings holds the model's
    prediction equal to /proc/zoneinfo on these recordings)."""
    with open_root(str(archive)) as root:
        facts = gather(root)
    inputs = facts.inputs
    assert inputs.late_e820_ops, "OVMF reserves its BGRT image through efi_mem_reserve on every boot"
    for op in inputs.late_e820_ops:
        assert any(r.start <= op.start and op.end <= r.end for r in facts.bootlog.early_node_ranges)
    naive = dataclasses.replace(inputs, kernel_e820_ops=inputs.kernel_e820_ops + inputs.late_e820_ops,
                                late_e820_ops=())
    lost = sum(z.present for z in predict(inputs).zones) - sum(z.present for z in predict(naive).zones)
    assert lost == sum((op.end - op.start) >> 12 for op in inputs.late_e820_ops)


def test_efi_memory_map_lines_and_boot_services_reservations() -> None:
    """efi=debug's map: 141 descriptors on OVMF; Boot Code/Data become the model's reservations."""
    from observer.model_inputs import efi_boot_services
    log = parse_boot_log((DATA / "k61-uefi-3node-efi-memblock-debug.dmesg").read_text())
    descs = log.of(ev.EfiMemory)
    assert [d.index for d in descs] == list(range(141))
    assert (descs[10].type, descs[10].start, descs[10].end) == ("Boot Data", 0x900000, 0x1500000)
    found = efi_boot_services(log, [])
    kernel = [e for e in log.of(ev.MemblockRange) if e.caller.startswith("efi_reserve_boot_services")]
    # efi_reserve_boot_services reserves each boot-services descriptor (page 0 too, already reserved)
    assert {(r.start, r.end) for r in found} >= {(k.start, k.end) for k in kernel}
    assert len(found) == 115 and log.of(ev.EfiFirmware)[0].vendor == "EDK II"


def test_extended_e820_table_is_the_firmware_map() -> None:
    """More entries than boot_params holds: e820__memory_setup_extended prints the whole table."""
    log = parse_boot_log("Linux version 6.1.0-57-amd64 (x)\n"
                         "BIOS-provided physical RAM map:\n"
                         "BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable\n"
                         "extended physical RAM map:\n"
                         "extended: [mem 0x0000000000000000-0x000000000009ffff] usable\n"
                         "extended: [mem 0x0000000000100000-0x00000000bfffffff] usable\n"
                         "extended physical RAM map:\n"
                         "reserve setup_data: [mem 0x0000000000000000-0x000000000009ffff] usable\n")
    assert [(e.start, e.end) for e in log.e820_map] == [(0, 0xA0000), (0x100000, 0xC0000000)]


def test_boot_services_memory_makes_a_kernel_node() -> None:
    """uefi_boot_services_node: node 1 ([2G,0xbc400000) and [5G,7G), hot-pluggable) holds no kernel
    image, initrd or ACPI table, only OVMF's boot-services data at 0xbbf6d000. The kernel cleared
    its hotplug marks (no Movable); the model follows only with the EFI reservations."""
    log = parse_boot_log((DATA / "k61-uefi-3node-efi-memblock-debug.dmesg").read_text())  # same OVMF
    srat = next(i for i, e in enumerate(log.events) if isinstance(e, ev.SratMemory))
    held = [e for e in log.events[:srat] if isinstance(e, ev.MemblockRange) and e.func == "memblock_reserve"
            and e.start < 0xBC400000 and e.end > 0x80000000]
    assert [(e.start, e.end, e.caller.split("+")[0]) for e in held] == [
        (0xBBF6D000, 0xBBF8D000, "efi_reserve_boot_services")]
    for archive in sorted(RECORDINGS.glob("*-uefi/uefi_boot_services_node.tar.gz")):
        with open_root(str(archive)) as root:
            inputs = gather(root).inputs
        efi = [r for r in inputs.reservations if r.what.startswith("EFI Boot")]
        assert any(r.start <= 0xBBF6D000 < r.end for r in efi)
        assert 1 in predict(inputs).kernel_nodes
        image = next(r for r in inputs.reservations if r.what == "kernel image")
        if image.start < 0xBC400000 and image.end > 0x80000000:
            # 5.10's EFI stub moves the image up into node 1 (0xb8200000) despite nokaslr: a
            # kernel node without the boot-services data too (the kernel agrees: check exits 0)
            assert split_series_dir(archive.parent.name)[0] == "5.10", archive
            continue
        blind = dataclasses.replace(inputs, reservations=tuple(r for r in inputs.reservations if r not in efi))
        assert 1 not in predict(blind).kernel_nodes
        assert any(z.node == 1 and z.zone == "Movable" and z.present for z in predict(blind).zones)
        assert not any(z.node == 1 and z.zone == "Movable" and z.present for z in predict(inputs).zones)


#: drivers/firmware/efi/libstub/x86-stub.c setup_e820: EFI memory types -> e820 types (numbers)
STUB_E820 = {"Conventional": 1, "Boot Code": 1, "Boot Data": 1, "Loader Code": 1, "Loader Data": 1,
             "ACPI Reclaim": 3, "ACPI Mem NVS": 4, "Unusable": 5, "Persistent": 7}


@pytest.mark.parametrize("name", DEBUG_LOGS)
def test_the_e820_table_is_the_efi_memory_map_as_the_stub_converted_it(name: str) -> None:
    """Under UEFI the BIOS-e820 lines are the EFI memory map efi_init prints, converted by the EFI
    stub's setup_e820 (boot-services and loader memory become RAM, runtime and reserved memory
    reserved): the model's firmware map needs no EFI map of its own."""
    log = parse_boot_log((DATA / f"{name}.dmesg").read_text())
    efi_map = [e for e in log.events[:memblock_setup_index(log)] if isinstance(e, ev.EfiMemory)]
    converted = memblock.sanitize((m.start, m.end, STUB_E820.get(m.type, 2)) for m in efi_map)
    assert len(efi_map) > 100
    assert converted == memblock.from_entries(memblock.E820Entry(e.start, e.end, e.type) for e in log.e820_map)
