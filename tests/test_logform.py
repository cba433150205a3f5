"""probes/logform.py: every form of a real boot log reads back to the same events as the log."""
from __future__ import annotations

from pathlib import Path

import pytest

from probes.bootlog import parse_boot_log
from probes.logform import recognise
from probes.reading import ParseError
from tests.logforms import FORMS, journal, quote, wrap

DATA = Path(__file__).parent / "data" / "bootlog"
LOGS = sorted(DATA.glob("*.dmesg"))


def _events(text: str, kinds: tuple[str, ...] | None = None) -> list[tuple[str, dict[str, object]]]:
    """Every event (of ``kinds``) without its place; trailing blanks of a text field dropped (mail
    clients and textwrap drop them, and the command line's end is not an option)."""
    return [(type(e).__name__, {k: v.rstrip() if isinstance(v, str) else v for k, v in vars(e).items()
                                if k not in ("line", "usec")})
            for e in parse_boot_log(text).events if kinds is None or type(e).__name__ in kinds]


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("log", LOGS, ids=lambda p: p.stem)
def test_every_form_reads_back_to_the_same_events(log: Path, form: str) -> None:
    text = log.read_text()
    transform, name = FORMS[form]
    got = recognise(transform(text).encode())
    assert got.describe().startswith(f"boot log ({name}")
    if form == "dmesg-t-wrap80" and log.name in UNTIMED_WRAP_GAPS:
        # A known gap: without timestamps a wrapped rest cannot be told from a message, and in
        # these memblock=debug + efi=debug logs some are left out (the banner's tail, ACPI table
        # lines, a memblock call); what the model is built from still reads back the same.
        assert _events(got.text, MODEL_KINDS) == _events(text, MODEL_KINDS)
    else:
        assert _events(got.text) == _events(text)
    assert parse_boot_log(got.text).complete


#: Logs whose untimed 80-column wrap loses lines the model does not read (see above).
UNTIMED_WRAP_GAPS = {"k510-uefi-3node-efi-memblock-debug.dmesg", "k61-uefi-3node-efi-memblock-debug.dmesg",
                     "k72-uefi-3node-efi-memblock-debug.dmesg"}
#: The events the model's inputs come from (observer/model_inputs.py).
MODEL_KINDS = ("E820Entry", "E820Change", "E820Table", "SratMemory", "SratCpu", "CommandLine", "Ramdisk",
               "AcpiTableReserved", "LastPfn", "EfiMemory", "ZoneRange", "MovableZoneStart", "EarlyNodeRange")


@pytest.mark.parametrize("form", ["wrap72", "quoted-wrap72", "journal-wrap72"])
def test_lines_point_back_into_the_file(form: str) -> None:
    text = (DATA / "k61-3node-plain.dmesg").read_text()
    handed = FORMS[form][0](text).splitlines()
    got = recognise("\n".join(handed).encode())
    assert got.rejoined > 0 and "wrapped line(s) rejoined" in got.describe()
    for n, line in enumerate(got.text.splitlines(), 1):
        message = parse_line_message(line)
        assert message[:12] in handed[got.source_line(n) - 1]


def parse_line_message(line: str) -> str:
    return line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line


def test_the_last_of_several_boots_is_used() -> None:
    first, second = (DATA / "k61-3node-plain.dmesg").read_text(), (DATA / "k612-3node-plain.dmesg").read_text()
    handed = journal(first, boot_id="0" * 32) + journal(second, boot_id="f" * 32)
    got = recognise(handed.encode())
    assert got.boots == 2 and "2 boots; the last one used" in got.describe()
    assert parse_boot_log(got.text).release == parse_boot_log(second).release != parse_boot_log(first).release
    # dmesg logs pasted one after the other split at 'Linux version' too
    assert recognise((first + second).encode()).boots == 2


def test_mail_text_around_a_nested_quote_is_left_out() -> None:
    text = (DATA / "k612-3node-plain.dmesg").read_text()
    handed = quote("Here is my log:\n" + quote(text).replace("On Wed", "> On Wed"))
    got = recognise(handed.encode())
    assert got.quote_depth == 2 and got.other_lines > 0
    assert _events(got.text) == _events(text)


def test_a_wrapped_rest_that_makes_no_known_message_is_left_out() -> None:
    """Joined, it would make no message the parser knows; kept alone, it would end the indented
    list it sits in (the parser reads '  node 0: ...' only right after its header)."""
    handed = ("[    0.000000] Linux version 6.1.0-50-amd64 (gcc)\n"
              "[    0.000000] Early memory node ranges\n"
              "[    0.000000]   some indented note that the kernel never prints, long enough to be\n"
              "wrapped here\n"
              "[    0.000000]   node   0: [mem 0x0000000000001000-0x000000000009efff]\n")
    got = recognise(handed.encode())
    assert got.rejoined == 0 and got.rests_left_out == 1 and "wrapped here" not in got.text
    assert "1 wrapped rest(s) of other messages left out" in got.describe()
    assert [(e.node, e.start) for e in parse_boot_log(got.text).early_node_ranges] == [(0, 0x1000)]


def test_wrapped_e820_line_is_rejoined_with_the_blank_the_wrapper_dropped() -> None:
    line = "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"
    handed = "[    0.000000] Linux version 6.1.0-50-amd64 (gcc)\n" + wrap(line, 72)
    assert wrap(line, 72).count("\n") == 2
    log = parse_boot_log(recognise(handed.encode()).text)
    assert [(e.start, e.end, e.type) for e in log.e820_map] == [(0, 0x9fc00, "usable")]


@pytest.mark.parametrize("data, problem", [
    (b"", "empty file"),
    (b"   \n\n", "empty file"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary data"),
    (bytes(range(256)) * 64, "binary data"),
    (b"Dear all,\nthe meeting is moved to Friday.\n", "no line a Linux kernel prints"),
    (b"def main():\n    return 0\n", "no line a Linux kernel prints"),
])
def test_what_is_no_boot_log(data: bytes, problem: str) -> None:
    with pytest.raises(ParseError, match=problem):
        recognise(data)


def test_a_journal_without_entries_is_an_empty_log() -> None:
    got = recognise(b"-- No entries --\n")
    assert got.text == "" and not parse_boot_log(got.text).complete
