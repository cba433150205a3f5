"""The ``movcheck`` command line: subcommands, ``--root``, and one-line errors with exit codes."""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself costs ~2 ms to import, a tenth of ``movcheck --version``
if TYPE_CHECKING:
    import argparse
    from typing import Sequence

# Nothing else is imported at module level: ``movcheck --version`` needs none of it, and
# each command imports only what it uses (observer/commands/<name>.py).

#: Subcommand modules under observer.commands -> their one-line help (each module's ``HELP``;
#: tests/test_cli.py checks they agree), in the order ``--help`` lists them. Kept here so that
#: ``--help`` needs no command module and a command imports only its own.
COMMAND_HELP: dict[str, str] = {
    "srat": "decode the ACPI SRAT (System Resource Affinity Table)",
    "show": "print the live layout: nodes, zones, SRAT ranges, memory blocks, boot options",
    "plan": "predict the zone layout from firmware facts and the command line (what-if with --cmdline)",
    "check": "check the live zone layout against the model's prediction (exit 0 agree, 1 disagree, 3 cannot tell)",
    "snapshot": "record every file movcheck reads into a directory or a .tar.gz",
    "watch": "watch memory hot-add/online/offline/remove live and check each zone choice",
    "replay": "re-run the checks of a `movcheck watch` trace offline and print the same verdicts",
    "audit": "say which memory can be hot-removed, and every reason why not",
    "map": "draw the physical address space: SRAT nodes, hot-plug ranges, zones, blocks, reservations",
    "summary": "the fleet roll-up over audit JSON files, recordings, sosreports and boot logs (--hosts: per host)",
}
#: The commands registered by :func:`build_parser`.
COMMANDS: tuple[str, ...] = tuple(COMMAND_HELP)
#: Commands that read the live machine once and judge it: run again while memory changes
#: under them (observer/settled.py). snapshot checks itself; watch follows the changes.
SETTLED = frozenset({"srat", "show", "plan", "check", "audit", "map"})

EPILOG = """exit status: 0 fine, 1 findings, 2 bad input or usage, 3 cannot tell (an input is missing or denied),
  4 internal error (a bug in movcheck; MOVCHECK_DEBUG=1 prints the traceback)

examples:
  movcheck show                      the live layout of this machine
  movcheck show --root rec.tar.gz    the same for a recording
  movcheck snapshot -o host.tar.gz   record what movcheck reads
"""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand listed; only the command ``argv`` names (its
    first word not starting with ``-``) is imported and configured, every one when ``argv`` is None.
    When ``argv`` starts with a command's name, only that command is listed: nothing else can
    then be parsed or shown (its usage, errors and help name no other command)."""
    import argparse
    import importlib

    from observer import __version__
    named = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    parser = argparse.ArgumentParser(prog="movcheck", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Check that Linux memory can be hot-removed: "
                                                 "predict, check and audit ZONE_MOVABLE.")
    parser.add_argument("--version", action="version", version=f"movcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listed = [argv[0]] if argv and argv[0] in COMMANDS else COMMANDS
    for name in listed:
        p = sub.add_parser(name, help=COMMAND_HELP[name], description=COMMAND_HELP[name])
        if named is not None and name != named:
            continue
        module = importlib.import_module(f"observer.commands.{name}")
        p.add_argument("--root", default=os.environ.get("MOVCHECK_ROOT", "/"), metavar="PATH",
                       help="read a snapshot directory, a .tar.gz recording, a sosreport (directory, "
                            ".tar.xz or .tar.gz) or a single boot log (dmesg, journalctl -k, syslog, "
                            "quoted or wrapped) instead of / (default: /)")
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``movcheck`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:  # the fast path: no parser, no command module
        from observer import __version__
        print(f"movcheck {__version__}")
        return 0
    from observer.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, CommandError
    from probes.root import RootError, open_root
    from probes.snapshot_notes import snapshot_notes

    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        with open_root(args.root) as root:
            if root.mapped is not None:  # what a log file or sosreport was read as
                print(f"movcheck {args.command}: {root.mapped.origin}", file=sys.stderr)
            for note in snapshot_notes(root):  # what the snapshot itself says it lacks
                print(f"movcheck {args.command}: snapshot: {note}", file=sys.stderr)
            if root.live and args.command in SETTLED:
                from observer.settled import run_settled
                return run_settled(args._run, args, root, f"movcheck {args.command}")
            return int(args._run(args, root))
    except (CommandError, RootError) as exc:
        print(f"movcheck {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # writing an output file the user named
        print(f"movcheck {args.command}: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: never exit 1, which means findings
        if os.environ.get("MOVCHECK_DEBUG"):
            raise
        print(f"movcheck {args.command}: internal error: {_where(exc)}: {type(exc).__name__}: {exc} "
              f"(a bug in movcheck; MOVCHECK_DEBUG=1 prints the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def _where(exc: BaseException) -> str:
    """``module.py:line in function`` of the innermost frame of ``exc``'s traceback."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    code = tb.tb_frame.f_code
    return f"{os.path.basename(code.co_filename)}:{tb.tb_lineno} in {code.co_name}"


if __name__ == "__main__":
    sys.exit(main())
