"""`tickbus secmaster import-csv | sample | info`: build and inspect secmaster databases.

Exit status: 0 ok; 1 a bad input row (printed as `FILE:LINE: message`, nothing imported);
2 a bad argument (missing file, not a secmaster, ...), printed as one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from orchestrator.errors import UsageError

DEFAULT_DB = "secmaster.db"


def _default_db() -> str:
    return os.environ.get("SECMASTER_DB_PATH") or DEFAULT_DB


def register(sub: Any) -> None:
    p = sub.add_parser(
        "secmaster", help="build and inspect secmaster databases", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="secmaster_command", metavar="ACTION", required=True)
    db_help = f"secmaster database (default $SECMASTER_DB_PATH or {DEFAULT_DB})"

    imp = actions.add_parser(
        "import-csv",
        help="import OHLCV bars from a CSV file",
        description="Import OHLCV bars from CSV (header required; columns ts_event_ns or an"
        " ISO-8601 timestamp, symbol, open, high, low, close, volume, in any order). All rows"
        " are validated; on the first bad one nothing is imported. Re-importing is a no-op.",
    )
    imp.add_argument("file", help="CSV file")
    imp.add_argument("--db", default=_default_db(), help=db_help + "; created if absent")
    imp.add_argument("--publisher", required=True, help="publisher (vendor) name, e.g. mybroker")
    imp.add_argument("--dataset", required=True, help="dataset name, e.g. EQUITIES.1M")
    imp.add_argument("--symbol-type", default="raw_symbol", help="symbology type (default raw_symbol)")
    imp.add_argument(
        "--bar-period", default="1m", choices=["1s", "1m", "1h", "1d"], help="bar period (default 1m)"
    )
    imp.set_defaults(func=cmd_import_csv)

    sample = actions.add_parser(
        "sample",
        help="write the deterministic sample data set (publisher tickbus, dataset SAMPLE)",
    )
    sample.add_argument("--db", default=_default_db(), help=db_help)
    sample.add_argument("--symbols", type=int, default=4, help="number of symbols (default 4)")
    sample.add_argument("--bars", type=int, default=3000, help="one-minute bars per symbol (default 3000)")
    sample.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    sample.set_defaults(func=cmd_sample)

    info = actions.add_parser("info", help="list publishers, datasets and symbols with bar counts")
    info.add_argument("--db", default=_default_db(), help=db_help)
    info.set_defaults(func=cmd_info)


def cmd_import_csv(args: argparse.Namespace) -> int:
    from components.secmaster import BAR_PERIODS, BarImportError, SecmasterError, import_csv

    started = time.monotonic()
    try:
        summary = import_csv(
            args.file,
            args.db,
            args.publisher,
            args.dataset,
            symbol_type=args.symbol_type,
            bar_period=BAR_PERIODS[args.bar_period],
        )
    except BarImportError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except SecmasterError as exc:
        raise UsageError(str(exc)) from None
    print(summary.describe(time.monotonic() - started))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from components.sample_data import SAMPLE_DATASET, SAMPLE_PUBLISHER, build_sample_secmaster
    from components.secmaster import SecmasterError

    if args.symbols < 1 or args.bars < 1:
        raise UsageError("--symbols and --bars must be at least 1")
    if args.symbols > 1000:
        raise UsageError("--symbols must be at most 1000")
    try:
        path = build_sample_secmaster(args.db, symbols=args.symbols, bars=args.bars, seed=args.seed)
    except SecmasterError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"sample secmaster {path}: {SAMPLE_PUBLISHER}/{SAMPLE_DATASET}, {args.symbols} symbols"
        f" x {args.bars} one-minute bars (seed {args.seed})"
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from components.models import BarPeriod
    from components.secmaster import (
        SecmasterError,
        coverage,
        list_publishers,
        list_symbol_types,
        open_secmaster,
    )
    from components.secmaster.db import ns_to_iso

    try:
        conn = open_secmaster(args.db, readonly=True)
    except SecmasterError as exc:
        raise UsageError(str(exc)) from None
    try:
        publishers = list_publishers(conn)
        print(f"{args.db}: secmaster schema v1, {len(publishers)} publisher/dataset(s)")
        for pub in publishers:
            venue = f" (venue {pub.venue})" if pub.venue else ""
            print(f"{pub.name}/{pub.dataset}{venue}")
            for stype in list_symbol_types(conn, pub.publisher_id):
                rows = coverage(conn, pub.name, pub.dataset, symbol_type=stype)
                print(f"  {stype}: {len({r.symbol for r in rows})} symbol(s) with bars")
                width = max((len(r.symbol) for r in rows), default=6)
                for r in rows:
                    period = BarPeriod.from_rtype(r.rtype).name if r.rtype != 36 else "EOD"
                    print(
                        f"    {r.symbol:<{width}}  {period:<6}  {r.bars:>12,} bars"
                        f"  {ns_to_iso(r.min_ts)} .. {ns_to_iso(r.max_ts)}"
                    )
    finally:
        conn.close()
    return 0
