"""A boot log in whatever form it was handed over, as the dmesg text the boot-log parser reads.

:func:`recognise` is pure (bytes in, a :class:`LogForm` out): it strips mail quoting
(``> ``, nested ``> > ``), recognises the line prefix (``dmesg`` with or without timestamps,
``dmesg -T``/``-x``, /dev/kmsg records, ``journalctl -k`` in its short, short-precise,
short-iso, short-full and short-monotonic outputs, syslog files), keeps the kernel's lines
of the last boot, and rejoins lines wrapped at 72-80 columns, but only where the joined
line has a shape the parser knows (:func:`probes.bootlog.message_shape`): nothing is
invented. Each normalised line remembers the line of the file it came from.
"""
from __future__ import annotations

import re

from probes.bootlog import message_shape, split_line
from probes.records import frozen, mutable
from probes.reading import ParseError

_SYSLOG_TAIL = r"(\S+) ([^\s:\[]+)(?:\[\d+\])?: ?"
#: (form name, prefix, whether the prefix names host and identifier, whether the message keeps
#: its position after the prefix as a dmesg line (prefix kept) or the prefix is dropped).
_PREFIXES: tuple[tuple[str, re.Pattern[str], bool, bool], ...] = (
    ("journalctl -o short-monotonic", re.compile(r"\[\s*\d+\.\d+\] (\S+) (kernel): ?"), True, False),
    ("dmesg", re.compile(r"(?:<\d+>)?\[\s*\d+\.\d+\]"), False, True),
    ("dmesg -x", re.compile(r"[a-z0-9]+ *:[a-z]+ *: (?=\[)"), False, False),
    ("dmesg -T", re.compile(r"\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] ?"), False, False),
    ("/dev/kmsg records", re.compile(r"\d+,\d+,\d+,[^;]*;"), False, True),
    ("journalctl -k export", re.compile(r"[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d(?:\.\d+)? " + _SYSLOG_TAIL), True, False),
    ("syslog file", re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? " + _SYSLOG_TAIL), True, False),
    ("journalctl -o short-iso", re.compile(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:[+-]\d\d:?\d\d|Z)? " + _SYSLOG_TAIL), True, False),
    ("journalctl -o short-full", re.compile(
        r"[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ " + _SYSLOG_TAIL), True, False),
)
#: Forms whose lines the prefix of another form strips (syslog pads the day with a space).
_STRIP_AS = {"journalctl -k export": _PREFIXES[6][1]}
_QUOTE = re.compile(r"(?:>[ \t]?)+")
_JOURNAL_MARK = re.compile(r"-- (.*) --\s*$")
_BOOT_MARK = re.compile(r"(?:Reboot|Boot [0-9a-f]{32})")
_HYPHEN_BREAK = re.compile(r"(?:[^\W\d_]{2}|[^\W\d_]-[^\W\d_])-$")
_SENTENCE = re.compile(r"[A-Z][a-z]")  # 'Unknown kernel command line parameters ...'
_SUBSYSTEM = re.compile(r"[\w./-]+: ")  # how most kernel messages start: 'x86/fpu: ...'
#: Lines wrapped by a mail client or textwrap are at most this long.
WRAP_WIDTHS = (60, 80)
MAX_LINES = 4_000_000


@frozen
class LogForm:
    """A boot log recognised: its form, the normalised dmesg text, where each line came from."""

    form: str
    text: str
    lines: tuple[int, ...]        # 1-based line of the file each normalised line starts on
    boots: int = 1
    quote_depth: int = 0
    rejoined: int = 0
    other_lines: int = 0          # lines left out: other programs, other boots, other quote levels
    rests_left_out: int = 0       # wrapped rests of messages the parser does not read

    def describe(self) -> str:
        """``boot log (journalctl -k export, 2 boots; the last one used)``."""
        parts = [self.form]
        if self.boots > 1:
            parts[0] += f", {self.boots} boots; the last one used"
        if self.quote_depth:
            parts.append("quoted in a mail" + (f" at depth {self.quote_depth}" if self.quote_depth > 1 else ""))
        if self.rejoined:
            parts.append(f"{self.rejoined} wrapped line(s) rejoined")
        if self.rests_left_out:
            parts.append(f"{self.rests_left_out} wrapped rest(s) of other messages left out")
        return f"boot log ({'; '.join(parts)})"

    def source_line(self, n: int) -> int:
        """The file's line number for line ``n`` (1-based) of the normalised text."""
        return self.lines[n - 1] if 0 < n <= len(self.lines) else n


@mutable
class _Line:
    """One message of the log being normalised (after rejoining wrapped lines)."""

    number: int
    text: str          # what goes into the normalised log (prefix stripped or kept)
    message: str       # the message alone, for shape tests
    prefixed: bool     # it carried the form's prefix (a continuation does not)
    tail: int = -1     # length of its last physical line once a wrapped rest was joined


def recognise(data: bytes) -> LogForm:
    """The form of ``data`` and its normalised text; ParseError when it is no kernel log."""
    if not data.strip():
        raise ParseError("empty file, not a boot log")
    if b"\0" in data[:1 << 20]:
        raise ParseError("binary data (NUL bytes), not a text boot log")
    text = data.decode("utf-8", "replace")
    if text.count("\ufffd") > max(16, len(text) // 100):
        raise ParseError("binary data (not UTF-8 text), not a boot log")
    depth, numbered, other = _unquote([line.rstrip("\r") for line in text.split("\n")[:MAX_LINES]])
    form, uses_ident = _form_of([t for _, t in numbered])
    lines, boots, dropped = _strip(numbered, form, uses_ident)
    lines, rejoined, rests = _rejoin(lines, form is None)
    if form is None and not any(message_shape(ln.message.strip())[0] for ln in lines):
        raise ParseError("no line a Linux kernel prints: not a boot log")
    name = form[0] if form else "dmesg without timestamps"
    return LogForm(name, "".join(ln.text + "\n" for ln in lines), tuple(ln.number for ln in lines),
                   boots, depth, rejoined, other + dropped, rests)


def _unquote(raw: list[str]) -> tuple[int, list[tuple[int, str]], int]:
    """Mail quoting: the quote depth holding most log-like lines, and those lines without it."""
    by_depth: dict[int, list[tuple[int, str]]] = {}
    for n, line in enumerate(raw, 1):
        m = _QUOTE.match(line)
        depth = m.group().count(">") if m else 0
        by_depth.setdefault(depth, []).append((n, line[m.end():] if m else line))
    if set(by_depth) == {0}:
        return 0, by_depth[0], 0

    def score(depth: int) -> int:
        return sum(1 for _, t in by_depth[depth] if _prefix_of(t) or message_shape(t.strip())[0])
    best = max(sorted(by_depth), key=score)
    return best, by_depth[best], sum(len(v) for d, v in by_depth.items() if d != best)


def _prefix_of(line: str) -> tuple[str, re.Pattern[str], bool, bool] | None:
    for form in _PREFIXES:
        if form[1].match(line):
            return form
    return None


def _form_of(lines: list[str]) -> tuple[tuple[str, re.Pattern[str], bool, bool] | None, bool]:
    """The prefix most lines carry (None: bare messages)."""
    counts: dict[str, int] = {}
    for line in lines:
        if (form := _prefix_of(line)) is not None:
            counts[form[0]] = counts.get(form[0], 0) + 1
    if not counts:  # a journal that printed only its markers ('-- No entries --')
        journal = any(_JOURNAL_MARK.match(line) for line in lines)
        return (_PREFIXES[5], True) if journal else (None, False)
    name = max(counts, key=lambda k: counts[k])
    form = next(f for f in _PREFIXES if f[0] == name)
    return form, form[2]


def _strip(raw: list[tuple[int, str]], form: tuple[str, re.Pattern[str], bool, bool] | None,
           uses_ident: bool) -> tuple[list[_Line], int, int]:
    """The last boot's kernel lines with the form's prefix handled; (lines, boots, dropped)."""
    boots: list[list[_Line]] = [[]]
    dropped = 0
    prefix = _STRIP_AS.get(form[0], form[1]) if form else None
    for n, line in raw:
        mark = _JOURNAL_MARK.match(line) if uses_ident else None
        if mark is not None:
            if _BOOT_MARK.fullmatch(mark.group(1)) and boots[-1]:
                boots.append([])
            continue
        m = prefix.match(line) if prefix else None
        if m is None:
            if line.strip():
                _add(boots, _Line(n, line, line, False), form is None)
            continue
        if uses_ident and m.group(2) != "kernel":
            dropped += 1
            continue
        rest = line[m.end():]
        text = line if form[3] else rest  # type: ignore[index]
        got = split_line(text)
        _add(boots, _Line(n, text, got[1] if got else rest, True), True)
    used = [b for b in boots if b]
    dropped += sum(len(b) for b in used[:-1])
    return (used[-1] if used else []), max(len(used), 1), dropped


def _add(boots: list[list[_Line]], ln: _Line, may_start: bool) -> None:
    """Append ``ln`` to the current boot; a 'Linux version' line starts a new one."""
    if may_start and ln.message.startswith("Linux version ") and boots[-1]:
        boots.append([])
    boots[-1].append(ln)


def _rejoin(lines: list[_Line], bare: bool) -> tuple[list[_Line], int, int]:
    """Wrapped lines joined back where the result is a message the parser knows; (lines,
    joined, rests left out). The rests of other messages are left out of a prefixed log (kept
    alone they would end the indented list they sit in: 'MEMBLOCK configuration:', ...); in a
    bare log they cannot be told from messages and stay."""
    width = max((len(ln.text) for ln in lines), default=0)
    wrapped = WRAP_WIDTHS[0] <= width <= WRAP_WIDTHS[1]
    out: list[_Line] = []
    joined = dropped = 0
    block = ""  # the block (probes.bootlog) the line being appended is read in
    i = 0
    while i < len(lines):
        head = lines[i]
        i += 1
        if out:
            block = message_shape(out[-1].message, block)[1]
        out.append(head)
        run: list[_Line] = []
        while i < len(lines) and _continues(head, run[-1] if run else head, lines[i], bare, wrapped, width):
            run.append(lines[i])
            i += 1
        used = _join(head, run, block) if run else 0
        joined += used
        if bare:
            i -= len(run) - used
        else:
            dropped += len(run) - used
    return out, joined, dropped


def _join(head: _Line, run: list[_Line], block: str) -> int:
    """Join to ``head`` the longest beginning of ``run`` that makes a known message; how many."""
    text, message, best = head.text, head.message, None
    for k, piece in enumerate(run, 1):
        rest = piece.text.lstrip()
        seps = _separators(text)
        sep = next((s for s in seps if message_shape(message + s + rest, block)[0]), None)
        text, message = text + (sep or seps[0]) + rest, message + (sep or seps[0]) + rest
        if sep is not None:
            best = (k, text, message, len(piece.text))
    if best is None:
        return 0
    head.text, head.message, head.tail = best[1], best[2], best[3]
    return best[0]


def _separators(text: str) -> tuple[str, ...]:
    """What the wrapper may have dropped at the break, likeliest first: textwrap drops the whole
    run of blanks there (fixed-width fields such as an ACPI table's OEM id pad with several),
    and breaks after a hyphen that follows letters without one (textwrap's wordsep_re)."""
    runs = tuple(" " * k for k in range(2, 9))
    return ("", " ") + runs if _HYPHEN_BREAK.search(text) else (" ", "") + runs


def _continues(head: _Line, last: _Line, ln: _Line, bare: bool, wrapped: bool, width: int) -> bool:
    """Whether ``ln`` may be the wrapped rest of ``head`` (its last piece so far ``last``): a line
    without the form's prefix after one with it; in a bare log wrapped at ``width``, a line whose
    first word did not fit on ``last`` and that does not start as a message ('Word ...',
    'subsystem: ...', a known shape)."""
    if not bare:
        return head.prefixed and not ln.prefixed
    if not wrapped or not ln.text or ln.text[0].isspace() or _SENTENCE.match(ln.text):
        return False
    word = ln.text.split(" ", 1)[0]
    size = len(last.text) if last is not head or head.tail < 0 else head.tail
    return size + 1 + len(word) > width and not _SUBSYSTEM.match(ln.text) and not message_shape(ln.text, "")[0]
