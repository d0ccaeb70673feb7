"""`tickbus runs list | show | report | compare`: read recorded runs from a runs database.

    tickbus runs list [--runs-db DB] [--json]
    tickbus runs show RUN_ID [--runs-db DB] [--json] [--round-trips] [--capital X] [--partial]
    tickbus runs report RUN_ID [--runs-db DB] [-o FILE.html] [--capital X] [--partial]
    tickbus runs compare RUN_A RUN_B [--runs-db DB] [--runs-db-b DB] [--json]

RUN_ID may be `latest` (the newest run). The runs database defaults to runs.db. `report` needs
matplotlib: pip install 'tickbus[report]'. A run still running is refused (exit 2, with what is
recorded so far) unless --partial asks to analyse what is recorded.

Exit status: 0 ok (`compare`: the runs recorded the same events); 1 `compare` found a
difference; 2 a bad argument (unknown run id, not a runs database, ...), printed as one line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator.errors import UsageError

DEFAULT_DB = "runs.db"


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="list, show, report on and compare recorded runs", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    db_help = f"runs database (default {DEFAULT_DB})"

    a = actions.add_parser("list", help="one line per run, newest first")
    a.add_argument("--runs-db", default=DEFAULT_DB, help=db_help)
    a.add_argument("--json", action="store_true", help="print a JSON array")
    a.set_defaults(func=cmd_list)

    a = actions.add_parser("show", help="a run's configuration, status and statistics")
    a.add_argument("run_id", metavar="RUN_ID")
    a.add_argument("--runs-db", default=DEFAULT_DB, help=db_help)
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.add_argument("--round-trips", action="store_true", help="also list every round trip")
    _analysis_options(a)
    a.set_defaults(func=cmd_show)

    a = actions.add_parser("report", help="write a self-contained HTML report of a run")
    a.add_argument("run_id", metavar="RUN_ID")
    a.add_argument("--runs-db", default=DEFAULT_DB, help=db_help)
    a.add_argument("-o", "--output", metavar="FILE.html", help="report file (default RUN_ID.html)")
    _analysis_options(a)
    a.set_defaults(func=cmd_report)

    a = actions.add_parser("compare", help="did two runs record the same events?")
    a.add_argument("run_a", metavar="RUN_A")
    a.add_argument("run_b", metavar="RUN_B")
    a.add_argument("--runs-db", default=DEFAULT_DB, help=db_help)
    a.add_argument("--runs-db-b", help="runs database of RUN_B (default: the same as RUN_A's)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(func=cmd_compare)


def _analysis_options(a: argparse.ArgumentParser) -> None:
    a.add_argument("--capital", type=float, help="base of drawdown %% (default: peak gross exposure)")
    a.add_argument("--partial", action="store_true", help="analyse a run that is still running")


@contextmanager
def _open(path: str) -> Iterator[sqlite3.Connection]:
    from recorder.analysis import open_runs_db
    from recorder.runsdb import RunsDbError

    try:
        conn = open_runs_db(path)
    except RunsDbError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield conn
    finally:
        conn.close()


def _run(conn: sqlite3.Connection, run_id: str, *, partial: bool = True) -> Any:
    """The run's info; unknown ids and (unless `partial`) running runs are usage errors."""
    from recorder.analysis import UnknownRunError, get_run
    from recorder.analysis.catalog import count_rows

    try:
        info = get_run(conn, run_id)
    except UnknownRunError as exc:
        raise UsageError(str(exc)) from None
    if info.status == "running" and not partial and not info.orchestrator_gone():
        bars, fills = count_rows(conn, "bars", info.run_id), count_rows(conn, "fills", info.run_id)
        raise UsageError(
            f"run {info.run_id} is still running (started {info.wall_time_s:,.0f} s ago; {bars:,} bars and {fills:,} fills"
            " recorded so far); --partial analyses what is recorded"
        )
    return info


def _finite(x: Any) -> Any:
    """JSON has no NaN/Infinity: such values become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _print_json(obj: Any) -> None:
    print(json.dumps(_finite(obj), allow_nan=False))


def cmd_list(args: argparse.Namespace) -> int:
    from recorder.analysis import list_runs
    from recorder.report.text import runs_list

    with _open(args.runs_db) as conn:
        summaries = list_runs(conn)
    if args.json:
        _print_json([s.to_dict() for s in summaries])
    else:
        print("\n".join(runs_list(summaries)))
    return 0


def _analysis(args: argparse.Namespace, conn: sqlite3.Connection) -> Any:
    from recorder.analysis import analyse_run

    info = _run(conn, args.run_id, partial=args.partial)
    return analyse_run(conn, info.run_id, capital=args.capital)


def cmd_show(args: argparse.Namespace) -> int:
    from recorder.report.text import show

    with _open(args.runs_db) as conn:
        a = _analysis(args, conn)
    if args.json:
        _print_json(a.to_dict(round_trips=args.round_trips))
    else:
        print("\n".join(show(a, round_trips=args.round_trips)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from recorder.report import ChartsUnavailable, require_matplotlib, write_report

    started = time.monotonic()
    try:
        require_matplotlib()
    except ChartsUnavailable as exc:
        raise UsageError(str(exc)) from None
    with _open(args.runs_db) as conn:
        a = _analysis(args, conn)
    out = args.output or f"{a.info.run_id}.html"
    try:
        path = write_report(a, out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    size = os.path.getsize(path)
    print(f"wrote {path} ({size / 1e6:,.1f} MB) in {time.monotonic() - started:,.1f} s")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from recorder.analysis import compare_runs
    from recorder.report.text import comparison

    db_b = args.runs_db_b or args.runs_db
    with _open(args.runs_db) as conn_a:
        info_a = _run(conn_a, args.run_a, partial=False)
        with _open(db_b) if db_b != args.runs_db else _same(conn_a) as conn_b:
            info_b = _run(conn_b, args.run_b, partial=False)
            result = compare_runs(conn_a, info_a.run_id, conn_b, info_b.run_id)
    if args.json:
        _print_json(result.to_dict())
    else:
        print("\n".join(comparison(result, args.runs_db, db_b)))
    sys.stdout.flush()
    return 0 if result.identical else 1


@contextmanager
def _same(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    yield conn
