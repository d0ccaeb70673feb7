"""The secmaster: an SQLite file of publishers, instruments, symbology and OHLCV bars.

Schema v1 is onesecondtrader's, so a file built by either system works in both.
"""

from components.secmaster.csv_import import BAR_PERIODS, import_csv, parse_iso_ns
from components.secmaster.db import (
    Publisher,
    SecmasterError,
    Segment,
    SymbolCoverage,
    check_secmaster,
    coverage,
    create_secmaster_db,
    get_publisher_id,
    list_datasets,
    list_publishers,
    list_symbol_types,
    list_symbols,
    open_secmaster,
    rebuild_symbol_coverage,
    require_publisher_id,
    schema_sql,
    symbol_segments,
)
from components.secmaster.writer import BarImportError, BarWriter, ImportSummary

__all__ = [
    "BAR_PERIODS",
    "BarImportError",
    "BarWriter",
    "ImportSummary",
    "Publisher",
    "SecmasterError",
    "Segment",
    "SymbolCoverage",
    "check_secmaster",
    "coverage",
    "create_secmaster_db",
    "get_publisher_id",
    "import_csv",
    "list_datasets",
    "list_publishers",
    "list_symbol_types",
    "list_symbols",
    "open_secmaster",
    "parse_iso_ns",
    "rebuild_symbol_coverage",
    "require_publisher_id",
    "schema_sql",
    "symbol_segments",
]
