"""`tickbus dashboard`: the web front end, on 127.0.0.1 only.

    tickbus dashboard [--runs-db DB] [--secmaster DB] [--presets-db DB] [--strategies DIR] [--port 8001]
                      [--max-concurrent N]

Needs the dashboard extra: pip install 'tickbus[dashboard]'. Runs launched from it are real
multi-process runs, each in its own process; up to --max-concurrent run at once, the rest wait
in a queue. Stopping the dashboard cancels the runs it started. The databases are onesecondtrader's
(onesecondtrader's RUNS_DB_PATH, SECMASTER_DB_PATH and PRESETS_DB_PATH are the defaults), so both
dashboards can share them; a runs.db onesecondtrader made is upgraded in place.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError

HOST = "127.0.0.1"  # never another interface: the dashboard runs code and has no authentication
INSTALL_HINT = "the dashboard needs its extra: pip install 'tickbus[dashboard]'"


def register(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="web front end: launch, watch and read runs", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs-db", default=os.environ.get("RUNS_DB_PATH", "runs.db"), help="runs database (default runs.db)")
    p.add_argument("--secmaster", default=os.environ.get("SECMASTER_DB_PATH", "secmaster.db"),
                   help="secmaster database (default secmaster.db)")
    p.add_argument("--presets-db", default=os.environ.get("PRESETS_DB_PATH"),
                   help="symbol presets and chart settings (default presets.db next to the runs database)")
    p.add_argument("--strategies", metavar="DIR", help="folder of strategy files (*.py) to offer besides the built-ins")
    p.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (default 8001)")
    p.add_argument("--max-concurrent", type=int, default=2, help="runs at once; the rest are queued (default 2)")
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from orchestrator.dashboard.app import Config, create_app
    except ImportError as exc:
        raise UsageError(f"{INSTALL_HINT} ({exc})") from None
    if args.max_concurrent < 1:
        raise UsageError("--max-concurrent must be at least 1")
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a TCP port")
    _check_port(args.port)
    strategies = Path(args.strategies) if args.strategies else None
    if strategies is not None and not strategies.is_dir():
        raise UsageError(f"--strategies {strategies}: not a folder")
    config = Config(Path(args.runs_db).absolute(), Path(args.secmaster).absolute(), strategies, args.max_concurrent,
                    presets_db=Path(args.presets_db).absolute() if args.presets_db else None)
    _check_runs_db(config.runs_db)
    print(f"tickbus dashboard on http://{HOST}:{args.port}/  (runs {config.runs_db}, secmaster {config.secmaster})", flush=True)
    uvicorn.run(create_app(config), host=HOST, port=args.port, log_level="warning")
    return 0


def _check_port(port: int) -> None:
    """A one-line error for a busy port, instead of uvicorn's log and exit."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from None


def _check_runs_db(path: Path) -> None:
    """Open (create, or upgrade a seed-made file) the runs database now: one line if it cannot be used."""
    from recorder.runsdb import RunsDbError, connect

    try:
        connect(path).close()
    except RunsDbError as exc:
        raise UsageError(str(exc)) from None
