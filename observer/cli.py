"""The ``movcheck`` command line: subcommands, ``--root``, and one-line errors with exit codes."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from observer.errors import EXIT_BAD_INPUT, CommandError
from probes.root import RootError, open_root

#: Subcommand modules under observer.commands, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("srat", "show", "plan", "check", "snapshot", "watch", "replay", "audit", "map", "summary")

EPILOG = """exit status: 0 fine, 1 findings, 2 bad input or usage, 3 cannot tell (an input is missing or denied)

examples:
  movcheck show                      the live layout of this machine
  movcheck show --root rec.tar.gz    the same for a recording
  movcheck snapshot -o host.tar.gz   record what movcheck reads
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="movcheck", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Check that Linux memory can be hot-removed: "
                                                 "predict, check and audit ZONE_MOVABLE.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"observer.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--root", default=os.environ.get("MOVCHECK_ROOT", "/"), metavar="DIR",
                       help="read a snapshot directory or .tar.gz recording instead of / (default: /)")
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``movcheck`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with open_root(args.root) as root:
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


if __name__ == "__main__":
    sys.exit(main())
