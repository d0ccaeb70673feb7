"""Every command's --help prints: argparse formats help texts with %, so a stray one breaks it."""

from __future__ import annotations

import argparse

from orchestrator.cli import build_parser


def _parsers(parser: argparse.ArgumentParser, prog: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _parsers(sub, f"{prog} {name}")
    return found


def test_every_command_formats_its_help() -> None:
    parsers = _parsers(build_parser(), "tickbus")
    assert len(parsers) > 10
    for prog, parser in parsers:
        assert parser.format_help().strip(), prog
