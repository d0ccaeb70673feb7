"""`tickbus attach`: one more strategy in a live run, in its own process (this one).

    tickbus attach [RUN] --strategy SPEC [--param NAME=VALUE ...] [--symbols A,B] [--key FILE]
                   [--on-attach-loss fail|drop] [--json]

RUN is a run id (or a unique prefix), a run directory, or an endpoint (tcp://HOST:PORT plus
--key FILE for a run on another machine); without it, the only live run (`tickbus ps`). The
strategy sees every bar from the first timestamp after it joined; its orders go to the run's
broker and its events are recorded under its own strategy id. Ctrl-C detaches: it leaves, the
run goes on and records the detach. If this process dies instead, the run fails - or, with
--on-attach-loss drop, drops it and records the loss (default: the run's --on-attach-loss).
"""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("attach", help="attach a strategy to a live run", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", nargs="?", metavar="RUN", help="run id, run directory or endpoint (default: the only live run)")
    p.add_argument("--strategy", required=True, metavar="SPEC",
                   help="registered name, package.module:Class or path/file.py:Class")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="strategy parameter (repeatable)")
    p.add_argument("--symbols", help="comma-separated symbols (within the run's); default: the strategy's, or all")
    p.add_argument("--key", metavar="FILE", help="the run's access key (needed for a CURVE-protected bus elsewhere)")
    p.add_argument("--on-attach-loss", choices=("fail", "drop"),
                   help="if this process dies: fail the run, or drop the strategy (default: the run's choice)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_attach)


def parse_params(items: list[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {item!r}: expected NAME=VALUE")
        params[name.strip()] = raw
    return params


def cmd_attach(args: argparse.Namespace) -> int:
    from orchestrator import strategies as strat
    from orchestrator.attach import attach, print_session
    from orchestrator.locate import locate

    params = parse_params(args.param)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    try:
        cls = strat.with_parameters(strat.resolve(args.strategy), params, symbols)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    target = locate(args.run, args.key)
    on_loss = args.on_attach_loss or (target.info.on_attach_loss if target.info else "fail")
    code, session = attach(target, cls, params=params, on_loss=on_loss)
    print_session(session, args.json)
    return code
