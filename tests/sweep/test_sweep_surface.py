"""A sweep's surface (recorder/analysis/sweep_surface.py): heatmap cells are the figures of the
variant runs they stand for; neighbours and isolated peaks as defined."""

from __future__ import annotations

import sqlite3
import statistics
from pathlib import Path
from typing import Any

import pytest
from sweepkit import sweep_args, sweep_json

from recorder.analysis import sweep_surface as SS
from recorder.analysis.sweeps import Variant


def _run_figure(conn: sqlite3.Connection, run_id: str, metric: str) -> float:
    return conn.execute(f"SELECT {metric} FROM run_metrics WHERE run_id = ? AND strategy_id = '' AND symbol = ''",
                        (run_id,)).fetchone()[0]


def test_heatmap_cells_are_the_figures_of_the_variant_runs(sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "runs.db"
    code, out = sweep_json(capsys, sweep_args(sweep_secmaster, db, "--grid", "fast=3,5,7", "--grid", "slow=12,20",
                                              "--grid", "pause_ms=0,0.5", "--workers", "2"))
    assert code == 0 and out["completed"] == 12
    conn = sqlite3.connect(db)
    try:
        s = SS.surface(conn, "latest", metric="sharpe")
        assert s.axes == {"fast": [3, 5, 7], "slow": [12, 20], "pause_ms": [0.0, 0.5]}
        assert [(h.x, h.y) for h in s.heatmaps] == [("fast", "slow"), ("fast", "pause_ms"), ("slow", "pause_ms")]
        assert [ln.param for ln in s.lines] == ["fast", "slow", "pause_ms"]
        hm = s.heatmaps[0]
        for row, b in zip(hm.cells, hm.ys):
            for cell, a in zip(row, hm.xs):
                runs = [r for r in out["results"] if r["params"]["fast"] == a and r["params"]["slow"] == b]
                assert sorted(cell.run_ids) == sorted(r["run_id"] for r in runs) and len(runs) == 2
                # the cell shows the best of the variants it stands for, and names that run
                figures = {r["run_id"]: _run_figure(conn, r["run_id"], "sharpe") for r in runs}
                assert cell.value == max(figures.values()) == figures[cell.run_id]
        med = SS.surface(conn, "latest", metric="max_drawdown", how="median").heatmaps[0]
        for row in med.cells:
            for cell in row:
                figures = [_run_figure(conn, r, "max_drawdown") for r in cell.run_ids]
                assert cell.value == pytest.approx(statistics.median(figures))
        best_dd = SS.surface(conn, "latest", metric="max_drawdown").lines[0]
        for a, cell in zip(best_dd.xs, best_dd.cells):  # less is better: the least
            assert cell.value == min(_run_figure(conn, r, "max_drawdown") for r in cell.run_ids)
        # robustness: one row per variant, its own figure
        assert len(s.robust) == 12
        for r in s.robust:
            assert r.value == _run_figure(conn, r.run_id, "sharpe")
    finally:
        conn.close()


def _v(n: int, fast: int, slow: int, sharpe: float | None) -> Variant:
    return Variant(n, {"fast": fast, "slow": slow}, "completed" if sharpe is not None else "failed", f"r{n}", None,
                   None, None, None, {"sharpe": sharpe, "max_drawdown": None if sharpe is None else -sharpe})


def test_neighbours_are_one_grid_step_away_and_a_lone_spike_is_an_isolated_peak() -> None:
    axes = {"fast": [1, 2, 3, 4], "slow": [10, 20, 30]}
    vs, n = [], 0
    for f in axes["fast"]:
        for s in axes["slow"]:
            n += 1
            vs.append(_v(n, f, s, 0.0))
    plateau = {(3, 20), (3, 30), (4, 20), (4, 30)}
    vs = [_v(v.variant, v.params["fast"], v.params["slow"],
             9.0 if (v.params["fast"], v.params["slow"]) == (1, 10) else
             5.0 if (v.params["fast"], v.params["slow"]) in plateau else
             None if (v.params["fast"], v.params["slow"]) == (2, 20) else float(v.variant) / 100) for v in vs]
    rob = {(r.params["fast"], r.params["slow"]): r for r in SS.robustness(vs, axes, "sharpe")}
    corner = rob[(1, 10)]
    # (1, 10)'s neighbours: (1, 20) and (2, 10)
    assert sorted(corner.neighbours) == [2, 4]
    assert corner.neighbour_median == statistics.median([0.02, 0.04])
    assert corner.isolated_peak  # the best, among ordinary neighbours
    assert len(rob[(3, 20)].neighbours) == 3  # (2, 20) has no figure
    assert not any(rob[p].isolated_peak for p in plateau)  # good, and so are their neighbours
    assert sum(r.isolated_peak for r in rob.values()) == 1
    assert rob[(2, 20)].value is None and not rob[(2, 20)].isolated_peak
    # less is better: the same spike, mirrored
    mirrored = {(r.params["fast"], r.params["slow"]): r for r in SS.robustness(vs, axes, "max_drawdown")}
    assert mirrored[(1, 10)].isolated_peak


def test_varying_parameters_and_unknown_names() -> None:
    vs = [_v(1, 1, 10, 1.0), _v(2, 2, 10, 2.0)]
    assert SS.varying({"grid": {"fast": [1, 2], "slow": [10]}}, vs) == {"fast": [1, 2]}
    assert SS.varying({}, vs) == {"fast": [1, 2]}
    with pytest.raises(ValueError, match="unknown metric"):
        SS.line(vs, "fast", {"fast": [1, 2]}, "nope")
    with pytest.raises(ValueError, match="unknown aggregation"):
        SS.line(vs, "fast", {"fast": [1, 2]}, "sharpe", how="mean")
