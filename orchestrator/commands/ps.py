"""`tickbus ps`: the live runs on this machine (run id, age, progress, bus members).

    tickbus ps [--json]

A run is live while its orchestrator is; directories left by runs whose orchestrator was killed
are cleaned up on the way. Members marked + are attached strategies (`tickbus attach`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("ps", help="list live runs on this machine", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="one JSON object per run, one per line")
    p.set_defaults(func=cmd_ps)


def cmd_ps(args: argparse.Namespace) -> int:
    from orchestrator.locate import format_runs, run_summary
    from orchestrator.rundir import live_runs

    runs = live_runs()
    if args.json:
        for info in runs:
            print(json.dumps(run_summary(info)))
        return 0
    if not runs:
        print("no live runs")
        return 0
    for line in format_runs(runs):
        print(line)
    return 0
