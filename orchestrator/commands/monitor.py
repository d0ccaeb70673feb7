"""`tickbus monitor`: watch a live run's bus; a passive listener the run never waits for.

    tickbus monitor [RUN] [--key FILE] [--interval S]     the live view, refreshed every S (1) s
    tickbus monitor [RUN] --once [--json]                 one snapshot (rates: averages since start)
    tickbus monitor [RUN] --follow PREFIX ...             decoded messages as they pass, one line per event

The view: messages/s and bytes/s per topic, pending/acknowledged/heartbeat age per member,
barrier rounds/s with latency p50/p99, malformed frames, progress and ETA. PREFIX is a topic
prefix cut at a segment boundary (`FillEvent`, `FillEvent.SMA-Crossover`, `BarReceived.mkt`, or
"" for everything). RUN: as for `tickbus attach`.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("monitor", help="watch a live run (stats, or decoded messages)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", nargs="?", metavar="RUN", help="run id, run directory or endpoint (default: the only live run)")
    p.add_argument("--key", metavar="FILE", help="the run's access key (for a CURVE-protected bus elsewhere)")
    p.add_argument("--follow", nargs="+", metavar="PREFIX", help="print matching messages, decoded")
    p.add_argument("--once", action="store_true", help="print one snapshot and exit")
    p.add_argument("--json", action="store_true", help="snapshots as JSON objects, one per line")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    p.set_defaults(func=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    from bus import BusError
    from bus.security import check_access
    from orchestrator import monitor
    from orchestrator.errors import UsageError
    from orchestrator.locate import locate

    target = locate(args.run, args.key)
    try:
        check_access(target.endpoints, timeout=5.0)
    except BusError as exc:
        raise UsageError(str(exc)) from None
    try:
        if args.follow:
            return monitor.follow(target, args.follow)
        return monitor.watch(target, interval=max(args.interval, 0.1), once=args.once, as_json=args.json)
    except KeyboardInterrupt:
        return 0
