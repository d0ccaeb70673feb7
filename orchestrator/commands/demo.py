"""`tickbus demo`: build the sample secmaster (if absent) and run two example strategies,
multi-process, printing the run summary. Works offline on a fresh install."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator.commands.run import execute

DEMO_STRATEGIES = ["SMACrossover", "RSIMeanReversion"]


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run a demo backtest on built-in sample data", description=__doc__)
    p.add_argument("--workdir", default="tickbus-demo", help="where secmaster.db and runs.db go (default ./tickbus-demo)")
    p.add_argument("--in-process", action="store_true", help="run all components in this process")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from components.sample_data import build_sample_secmaster

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    secmaster = workdir / "secmaster.db"
    if not secmaster.exists():
        build_sample_secmaster(secmaster)
    settings = {
        "secmaster": str(secmaster),
        "runs_db": str(workdir / "runs.db"),
        "strategies": [(name, {}) for name in DEMO_STRATEGIES],
        "in_process": args.in_process,
    }
    if not args.json:
        print(f"demo: {', '.join(DEMO_STRATEGIES)} on {secmaster} -> {workdir / 'runs.db'}")
    return execute(settings, args.json)
