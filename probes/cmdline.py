"""``/proc/cmdline``: the kernel command line, tokenised and interpreted as the kernel does.

Tokenising follows lib/cmdline.c ``next_arg`` (double quotes group spaces and are
dropped around the value) and kernel/params.c ``parse_args`` (a bare ``--`` ends the
kernel's parameters; the rest goes to init). Option names match as ``parameq`` does:
``-`` and ``_`` are equal. Sizes are bytes, parsed by lib/cmdline.c ``memparse``.
"""
from __future__ import annotations

from typing import Iterable

from probes.records import frozen
from probes.reading import ParseError, Reading
from probes.root import Root

CMDLINE_PATH = "proc/cmdline"
PAGE_SHIFT = 12
_U64 = (1 << 64) - 1
_SPACE = " \t\n\v\f\r"
_SUFFIX_SHIFT = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_HEX = "0123456789abcdefABCDEF"


# --- numbers -------------------------------------------------------------------------------

def simple_strtoull(s: str, pos: int = 0) -> tuple[int, int]:
    """lib/vsprintf.c ``simple_strtoull`` with base 0: (value mod 2**64, index after it)."""
    base = 10
    if s[pos:pos + 1] == "0":
        if s[pos + 1:pos + 2] in ("x", "X") and s[pos + 2:pos + 3] and s[pos + 2] in _HEX:
            base, pos = 16, pos + 2
        else:
            base = 8
    value = 0
    while pos < len(s):
        digit = int(s[pos], 16) if s[pos] in _HEX else 99
        if digit >= base:
            break
        value = (value * base + digit) & _U64
        pos += 1
    return value, pos


def memparse(s: str, pos: int = 0) -> tuple[int, int]:
    """lib/cmdline.c ``memparse``: a number with an optional K/M/G/T/P/E suffix, in bytes."""
    value, end = simple_strtoull(s, pos)
    shift = _SUFFIX_SHIFT.get(s[end:end + 1].lower()) if end < len(s) else None
    if shift is not None:
        value, end = (value << shift) & _U64, end + 1
    return value, end


# --- tokens --------------------------------------------------------------------------------

@frozen
class Param:
    """One kernel parameter as ``next_arg`` splits it: ``value`` None when there is no ``=``."""

    name: str
    value: str | None

    @property
    def key(self) -> str:
        """The name as ``parameq`` compares it (dashes are underscores)."""
        return self.name.replace("-", "_")


def next_arg(args: str) -> tuple[Param, str]:
    """lib/cmdline.c ``next_arg``: the first parameter of ``args`` and the rest (spaces skipped)."""
    in_quote = quoted = False
    if args.startswith('"'):
        args, in_quote, quoted = args[1:], True, True
    equals = 0
    i = 0
    while i < len(args):
        c = args[i]
        if c in _SPACE and not in_quote:
            break
        if equals == 0 and c == "=":
            equals = i
        if c == '"':
            in_quote = not in_quote
        i += 1
    last_quote = i > 0 and args[i - 1] == '"'
    if not equals:
        name = args[:i - 1] if quoted and last_quote else args[:i]
        value = None
    else:
        name = args[:equals]
        vstart, vend = equals + 1, i
        if args[vstart:vstart + 1] == '"':
            vstart += 1
            if last_quote:
                vend = i - 1
        elif quoted and last_quote:
            vend = i - 1
        value = args[vstart:max(vend, vstart)]
    return Param(name, value), args[i + 1:].lstrip(_SPACE) if i < len(args) else ""


def tokenize(text: str) -> tuple[tuple[Param, ...], tuple[str, ...]]:
    """kernel/params.c ``parse_args``: kernel parameters, then the words after ``--`` for init."""
    params: list[Param] = []
    rest = text.lstrip(_SPACE)
    while rest:
        param, rest = next_arg(rest)
        if param.value is None and param.name == "--":
            return tuple(params), tuple(w for w in _split_init(rest))
        params.append(param)
    return tuple(params), ()


def _split_init(rest: str) -> Iterable[str]:
    while rest:
        param, rest = next_arg(rest)
        yield param.name if param.value is None else f"{param.name}={param.value}"


# --- kernelcore= / movablecore= ------------------------------------------------------------

@frozen
class Amount:
    """One ``kernelcore=``/``movablecore=`` value: ``kind`` is bytes, percent or mirror."""

    raw: str
    kind: str
    value: int

    @property
    def pages(self) -> int:
        """Bytes converted to pages as the kernel stores them (truncated); 0 otherwise."""
        return self.value >> PAGE_SHIFT if self.kind == "bytes" else 0


def parse_amount(raw: str, allow_mirror: bool) -> Amount:
    """mm/mm_init.c ``cmdline_parse_kernelcore``/``cmdline_parse_core``: never fails, like the kernel."""
    if allow_mirror and "mirror" in raw.split(","):  # parse_option_str(p, "mirror")
        return Amount(raw, "mirror", 0)
    number, end = simple_strtoull(raw)
    if raw[end:end + 1] == "%":
        return Amount(raw, "percent", number)
    return Amount(raw, "bytes", memparse(raw)[0])


@frozen
class CoreSetting:
    """The kernel's state after every occurrence, in order (mm/mm_init.c ``cmdline_parse_core``).

    ``pages`` and ``percent`` are the ``required_*``/``*_percent`` variables: a byte value
    sets pages and clears percent; a percent sets percent and leaves pages; ``mirror``
    (kernelcore only) is sticky and leaves both.
    """

    occurrences: tuple[Amount, ...] = ()
    pages: int = 0
    percent: int = 0
    mirror: bool = False

    @property
    def given(self) -> bool:
        return bool(self.occurrences)


def resolve_core(amounts: Iterable[Amount]) -> CoreSetting:
    """Apply the occurrences in order, as repeated early parameters are applied."""
    pages = percent = 0
    mirror = False
    occ = tuple(amounts)
    for a in occ:
        if a.kind == "mirror":
            mirror = True
        elif a.kind == "percent":
            percent = a.value
        else:
            pages, percent = a.pages, 0
    return CoreSetting(occ, pages, percent, mirror)


# --- memmap= -------------------------------------------------------------------------------

#: arch/x86/include/asm/e820/types.h
E820_TYPES = {1: "usable", 2: "reserved", 3: "ACPI data", 4: "ACPI NVS", 5: "unusable", 7: "persistent (type 7)",
              12: "persistent (type 12)", 0xEFFFFFFF: "soft reserved"}
_MEMMAP_OPS = {"@": ("add", 1), "#": ("add", 3), "$": ("add", 2), "!": ("add", 12)}


@frozen
class MemmapEntry:
    """One comma item of ``memmap=``, as arch/x86/kernel/e820.c ``parse_memmap_one`` reads it.

    ``action``: ``exactmap`` (forget the firmware map), ``add`` (range of ``to_type``),
    ``limit`` (drop RAM at and above ``size``), ``update`` (``from_type`` → ``to_type``),
    ``remove`` (``from_type``, 0 = any), or ``invalid`` (the kernel ignores it).
    ``applied`` is False when the kernel rejects the item before touching e820; an item
    with trailing garbage after ``nn@ss`` is still applied (the kernel acts, then returns
    -EINVAL). Sizes and starts in bytes.
    """

    raw: str
    action: str
    size: int = 0
    start: int = 0
    from_type: int = 0
    to_type: int = 0
    applied: bool = True


def parse_memmap_item(raw: str) -> MemmapEntry:
    """arch/x86/kernel/e820.c ``parse_memmap_one`` for one comma-separated item."""
    if raw.startswith("exactmap"):
        return MemmapEntry(raw, "exactmap")
    size, p = memparse(raw)
    if p == 0:
        return MemmapEntry(raw, "invalid", applied=False)
    op = raw[p:p + 1]
    if op in _MEMMAP_OPS:
        start, _ = memparse(raw, p + 1)
        action, kind = _MEMMAP_OPS[op]
        return MemmapEntry(raw, action, size, start, 0, kind)
    if op == "%":
        start, p = memparse(raw, p + 1)
        src = dst = 0
        if raw[p:p + 1] == "-":
            src, p = simple_strtoull(raw, p + 1)
        if raw[p:p + 1] == "+":
            dst, p = simple_strtoull(raw, p + 1)
        if p != len(raw):
            return MemmapEntry(raw, "invalid", size, start, src, dst, applied=False)
        action = "update" if src and dst else "add" if dst else "remove"
        return MemmapEntry(raw, action, size, start, src, dst)
    return MemmapEntry(raw, "limit", size)


def parse_memmap_option(value: str) -> tuple[MemmapEntry, ...]:
    """arch/x86/kernel/e820.c ``parse_memmap_opt``: split on commas, each item on its own."""
    return tuple(parse_memmap_item(item) for item in value.split(","))


# --- numa= and movablemem_map= -------------------------------------------------------------

@frozen
class NumaOption:
    """``numa=`` after all occurrences (arch/x86/mm/numa.c ``numa_setup``: prefix tests, sticky flags)."""

    off: bool = False
    noacpi: bool = False
    nohmat: bool = False
    fake: str | None = None


def resolve_numa(values: Iterable[str]) -> NumaOption:
    off = noacpi = nohmat = False
    fake = None
    for v in values:
        off |= v.startswith("off")
        noacpi |= v.startswith("noacpi")
        nohmat |= v.startswith("nohmat")
        if v.startswith("fake="):
            fake = v[5:]
    return NumaOption(off, noacpi, nohmat, fake)


@frozen
class MovableMap:
    """``movablemem_map=`` / ``movablecore_map=`` (2013 LKML proposal, never merged upstream).

    ``ranges`` are (start, size) in bytes from ``nn[KMG]@ss[KMG]`` items; ``acpi`` when
    ``movablemem_map=acpi`` was given; ``invalid`` keeps items that fit neither form.
    """

    acpi: bool = False
    ranges: tuple[tuple[int, int], ...] = ()
    invalid: tuple[str, ...] = ()

    @property
    def given(self) -> bool:
        return self.acpi or bool(self.ranges) or bool(self.invalid)


def resolve_movable_map(values: Iterable[str]) -> MovableMap:
    acpi = False
    ranges: list[tuple[int, int]] = []
    invalid: list[str] = []
    for v in values:
        if v == "acpi":
            acpi = True
            continue
        size, p = memparse(v)
        if p and v[p:p + 1] == "@":
            start, end = memparse(v, p + 1)
            if end == len(v) and end > p + 1:
                ranges.append((start, size))
                continue
        invalid.append(v)
    return MovableMap(acpi, tuple(ranges), tuple(invalid))


# --- the whole line ------------------------------------------------------------------------

@frozen
class HotplugOptions:
    """``memory_hotplug.*`` module parameters given on the command line (last valid one wins).

    Each is None when not given. Values as mm/memory_hotplug.c accepts them.
    """

    online_policy: str | None = None
    auto_movable_ratio: int | None = None
    auto_movable_numa_aware: bool | None = None
    memmap_on_memory: str | None = None


@frozen
class CommandLine:
    """The interpreted command line. Sizes in bytes; every token kept in ``params``."""

    raw: str
    params: tuple[Param, ...]
    init_args: tuple[str, ...]
    movable_node: bool
    kernelcore: CoreSetting
    movablecore: CoreSetting
    mem: tuple[int, ...]
    memmap: tuple[MemmapEntry, ...]
    numa: NumaOption
    memhp_default_state: str | None
    memory_hotplug: HotplugOptions
    movablemem_map: MovableMap
    nokaslr: bool
    crashkernel: tuple[str, ...]

    def values(self, name: str) -> tuple[str | None, ...]:
        """Every value given for ``name`` (``parameq`` match), in order."""
        key = name.replace("-", "_")
        return tuple(p.value for p in self.params if p.key == key)

    def has(self, name: str) -> bool:
        return bool(self.values(name))

    @property
    def mem_limit(self) -> int | None:
        """The RAM limit in bytes after every valid ``mem=`` (each cuts RAM above it), or None."""
        return min(self.mem) if self.mem else None


_ONLINE_POLICIES = ("contig-zones", "auto-movable")


def parse_cmdline(text: str) -> CommandLine:
    """Interpret ``/proc/cmdline``. Never fails on odd values: the kernel ignores them too."""
    if "\0" in text:
        raise ParseError("contains a NUL byte; /proc/cmdline is one text line")
    raw = text.rstrip("\n")
    params, init_args = tokenize(raw)

    def vals(*names: str) -> list[str]:
        keys = {n.replace("-", "_") for n in names}
        return [p.value for p in params if p.key in keys and p.value is not None]

    mem = []
    for v in vals("mem"):  # arch/x86/kernel/e820.c parse_memopt: 0 is refused
        size = memparse(v)[0]
        if size:
            mem.append(size)
    hp = HotplugOptions(
        _last(v for v in vals("memory_hotplug.online_policy") if v in _ONLINE_POLICIES),
        _last(n for n in map(_kstrtouint, vals("memory_hotplug.auto_movable_ratio")) if n is not None),
        _last(b for b in map(_kstrtobool, _flag_vals(params, "memory_hotplug.auto_movable_numa_aware"))
              if b is not None),
        _last(_flag_vals(params, "memory_hotplug.memmap_on_memory")),
    )
    return CommandLine(
        raw=raw,
        params=params,
        init_args=init_args,
        movable_node=any(p.key == "movable_node" for p in params),
        kernelcore=resolve_core(parse_amount(v, True) for v in vals("kernelcore")),
        movablecore=resolve_core(parse_amount(v, False) for v in vals("movablecore")),
        mem=tuple(mem),
        memmap=tuple(e for v in vals("memmap") for e in parse_memmap_option(v)),
        numa=resolve_numa(vals("numa")),
        memhp_default_state=_last(vals("memhp_default_state")),
        memory_hotplug=hp,
        movablemem_map=resolve_movable_map(vals("movablemem_map", "movablecore_map")),
        nokaslr=any(p.name == "nokaslr" for p in params),
        crashkernel=tuple(vals("crashkernel")),
    )


def _flag_vals(params: tuple[Param, ...], name: str) -> list[str]:
    """Values of a bool module parameter; a bare name means "1" (kernel/params.c param_set_bool)."""
    key = name.replace("-", "_")
    return ["1" if p.value is None else p.value for p in params if p.key == key]


def _last(items: Iterable[object]):  # type: ignore[no-untyped-def]
    out = None
    for out in items:
        pass
    return out


def _kstrtouint(v: str) -> int | None:
    """lib/kstrtox.c ``kstrtouint`` base 0: the whole string (one trailing newline allowed)."""
    s = v[:-1] if v.endswith("\n") else v
    s = s[1:] if s.startswith("+") else s
    if not s:
        return None
    n, end = simple_strtoull(s)
    return n if end == len(s) and n < 1 << 32 else None


def _kstrtobool(v: str) -> bool | None:
    """lib/kstrtox.c ``kstrtobool``."""
    c = v[:1].lower()
    if c in ("y", "1", "t"):
        return True
    if c in ("n", "0", "f"):
        return False
    if c == "o":
        two = v[1:2].lower()
        return True if two == "n" else False if two == "f" else None
    return None


def read_cmdline(root: Root) -> Reading[CommandLine]:
    """The running kernel's command line from ``proc/cmdline``."""
    return root.read_text(CMDLINE_PATH).map(parse_cmdline)
