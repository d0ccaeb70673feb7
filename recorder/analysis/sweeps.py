"""Reading parameter sweeps back from runs.db alone: the sweeps, and each variant's parameters,
status, run and figures (its run's row of run_metrics), ranked by a figure.

    from recorder.analysis.sweeps import get_sweep, variants
    s = get_sweep(conn, "latest")
    best = variants(conn, s.sweep_id, sort="sharpe")[0]
    best.params, best.run_id, best.figures["net_pnl"]

In SQL: `SELECT v.params, m.net_pnl, m.sharpe FROM sweep_variants v LEFT JOIN run_metrics m
ON m.run_id = v.run_id AND m.strategy_id = '' AND m.symbol = '' WHERE v.sweep_id = ?`.
"""

from __future__ import annotations

import difflib
import json
import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from recorder.analysis.catalog import owner_gone
from recorder.layout import METRIC_COLUMNS

LATEST = "latest"
#: The figures a variant's result lists (`tickbus sweep --json`).
SHOWN = ("net_pnl", "sharpe", "max_drawdown", "fills")
#: What a variant row is (sweep_variants.phase); None is the grid the sweep ranks.
PHASES = (None, "oos", "wf", "wf_oos")


class UnknownSweepError(LookupError):
    """No sweep of that id; the message lists the closest ids."""


@dataclass(frozen=True)
class SweepInfo:
    sweep_id: str
    name: str
    status: str
    ts_start: int
    ts_end: int | None
    spec: dict[str, Any]
    variants: int
    completed: int
    failed: int
    error: str | None
    metadata: dict[str, Any]

    def driver_gone(self) -> str | None:
        """Why this `running` sweep certainly has no driver any more (on this host), else None."""
        return owner_gone(self.metadata, "driver") if self.status == "running" else None

    @property
    def shown_status(self) -> str:
        return "abandoned" if self.driver_gone() else self.status

    @property
    def wall_time_s(self) -> float:
        end = self.ts_end if self.ts_end is not None else time.time_ns()
        return max(0, end - self.ts_start) / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep_id, "name": self.name, "status": self.shown_status, "variants": self.variants,
                "completed": self.completed, "failed": self.failed, "pending": self.variants - self.completed - self.failed,
                "ts_start": self.ts_start, "ts_end": self.ts_end, "wall_time_s": round(self.wall_time_s, 3),
                "error": self.error, "spec": self.spec}


@dataclass(frozen=True)
class Variant:
    variant: int
    params: dict[str, Any]
    status: str  # pending | completed | failed
    run_id: str | None
    error: str | None
    bars: int | None
    elapsed_s: float | None
    worker: str | None
    figures: dict[str, Any]  # METRIC_COLUMNS of the run's own row (None where not computed)
    phase: str | None = None  # None: the grid the sweep ranks; else PHASES (runs_schema.sql)
    wf_window: int | None = None
    source: int | None = None  # the variant an 'oos' / 'wf_oos' row runs again
    start_ns: int | None = None
    end_ns: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "params": self.params, "run_id": self.run_id, "status": self.status,
                **{k: self.figures.get(k) for k in SHOWN}, "error": self.error}

    def metrics(self) -> dict[str, Any]:
        """Every figure of the run's row, with the run id (`in_sample` / `out_of_sample` of --json)."""
        return {"run_id": self.run_id, "status": self.status, **{k: self.figures.get(k) for k in METRIC_COLUMNS}}


_COLUMNS = "sweep_id, name, status, ts_start, ts_end, spec, variants, completed, failed, error, metadata"


def _info(row: tuple[Any, ...]) -> SweepInfo:
    sweep_id, name, status, ts_start, ts_end, spec, variants, completed, failed, error, metadata = row
    return SweepInfo(sweep_id, name, status, ts_start, ts_end, json.loads(spec or "{}"), variants, completed, failed,
                     error, json.loads(metadata or "{}"))


def all_sweeps(conn: sqlite3.Connection) -> list[SweepInfo]:
    """Every sweep, newest first."""
    return [_info(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM sweeps ORDER BY ts_start DESC, sweep_id DESC")]


def get_sweep(conn: sqlite3.Connection, sweep_id: str) -> SweepInfo:
    """The sweep `sweep_id` (the newest for `latest`); UnknownSweepError naming the closest ids."""
    if sweep_id == LATEST:
        row = conn.execute(f"SELECT {_COLUMNS} FROM sweeps ORDER BY ts_start DESC, sweep_id DESC LIMIT 1").fetchone()
        if row is None:
            raise UnknownSweepError("the runs database holds no sweeps")
        return _info(row)
    row = conn.execute(f"SELECT {_COLUMNS} FROM sweeps WHERE sweep_id = ?", (sweep_id,)).fetchone()
    if row is not None:
        return _info(row)
    ids = [r[0] for r in conn.execute("SELECT sweep_id FROM sweeps ORDER BY ts_start DESC")]
    if not ids:
        raise UnknownSweepError(f"no sweep {sweep_id!r}: the runs database holds no sweeps")
    close = difflib.get_close_matches(sweep_id, ids, n=3, cutoff=0.4)
    raise UnknownSweepError(f"no sweep {sweep_id!r}; {'closest' if close else 'newest'}: {', '.join(close or ids[:3])}")


def _rank(sort: str) -> Any:
    more_is_better = METRIC_COLUMNS[sort]

    def key(v: Variant) -> tuple[int, float, int]:
        x = v.figures.get(sort)
        if not isinstance(x, (int, float)) or isinstance(x, float) and math.isnan(x):
            return (1, 0.0, v.variant)  # no figure (failed, pending): last
        return (0, -x if more_is_better else x, v.variant)

    return key


def variants(conn: sqlite3.Connection, sweep_id: str, sort: str = "net_pnl", phase: str | None = None,
             wf_window: int | None = None) -> list[Variant]:
    """The sweep's variants of one phase (default: the grid it ranks), best first by `sort` (a
    run_metrics column); ties and variants without figures in variant order. `wf_window`: only
    that walk-forward window's."""
    if sort not in METRIC_COLUMNS:
        raise ValueError(f"unknown figure {sort!r} (one of {', '.join(METRIC_COLUMNS)})")
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    cols = ", ".join(f"m.{c}" for c in METRIC_COLUMNS)
    where = "v.phase IS NULL" if phase is None else "v.phase = ?"
    args: list[Any] = [sweep_id] + ([] if phase is None else [phase])
    if wf_window is not None:
        where += " AND v.wf_window = ?"
        args.append(wf_window)
    rows = conn.execute(
        f"SELECT v.variant, v.params, v.status, v.run_id, v.error, v.bars, v.elapsed_s, v.worker,"
        f" v.phase, v.wf_window, v.source, v.start_ns, v.end_ns, {cols}"
        " FROM sweep_variants v LEFT JOIN run_metrics m ON m.run_id = v.run_id AND m.strategy_id = '' AND m.symbol = ''"
        f" WHERE v.sweep_id = ? AND {where}", args).fetchall()
    out = [Variant(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], dict(zip(METRIC_COLUMNS, r[13:])),
                   r[8], r[9], r[10], r[11], r[12])
           for r in rows]
    return sorted(out, key=_rank(sort))
