"""The `tickbus` command line: a thin dispatcher; each subcommand lives in orchestrator/commands/."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from orchestrator.errors import UsageError

# Each module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
COMMAND_MODULES = ("secmaster", "run", "sweep", "demo", "runs", "dashboard", "ps", "attach", "monitor")



class _Parser(argparse.ArgumentParser):
    """A bad argument is one line on stderr (saying where the usage is), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tickbus", description="Multi-process event-driven backtester.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"orchestrator.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UsageError as exc:  # several problems: one line each
        for line in str(exc).splitlines() or [""]:
            print(f"tickbus {args.command}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tickbus: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    from orchestrator.cli import main as _main  # the importable module, so error classes match

    sys.exit(_main())
