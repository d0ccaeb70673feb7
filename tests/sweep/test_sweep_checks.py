"""Out-of-sample checks of a sweep: --holdout runs equal solo `tickbus run --start SPLIT` runs,
walk-forward windows tile the data, --search tpe is reproducible with a seed, bad combinations
are one-line errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sweepkit import SPEC, same_events, sweep_args, sweep_json

from orchestrator.cli import main
from recorder.analysis.timefmt import iso_ns


def _bar_times(secmaster: Path) -> np.ndarray:
    conn = sqlite3.connect(secmaster)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        table = next(t for t in tables if "ohlcv" in t)
        return np.unique(np.fromiter((r[0] for r in conn.execute(f"SELECT ts_event FROM {table}")), dtype=np.int64))
    finally:
        conn.close()


def test_holdout_runs_equal_solo_runs_from_the_split(sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "runs.db"
    code, out = sweep_json(capsys, sweep_args(sweep_secmaster, db, "--grid", "fast=2:5:1", "--grid", "slow=10,15",
                                              "--holdout", "30%", "--top", "3", "--sort", "sharpe", "--record", "all",
                                              "--workers", "2"))
    assert code == 0 and out["status"] == "completed", out
    ts = _bar_times(sweep_secmaster)
    split = out["holdout"]["split_ns"]
    assert split == int(ts[len(ts) - int(len(ts) * 0.3)])  # the last 30 % of the bar times, by count
    ranked = out["results"]
    assert len(ranked) == 8 and all("in_sample" in r and "out_of_sample" in r for r in ranked)
    tested = [r for r in ranked if r["out_of_sample"] is not None]
    assert [r["run_id"] for r in tested] == [r["run_id"] for r in ranked[:3]]  # the in-sample top 3
    keys = {"run_id", "status", "net_pnl", "sharpe", "sortino", "max_drawdown", "fills", "win_rate", "exposure"}
    assert all(keys <= set(r["in_sample"]) and set(r["in_sample"]) == set(r["out_of_sample"]) for r in tested)
    assert isinstance(out["rank_correlation"], float) and -1.0 <= out["rank_correlation"] <= 1.0
    conn = sqlite3.connect(db)
    try:
        # in sample: no bar from the split on; out of sample: none before it
        for r in ranked:
            last = conn.execute("SELECT MAX(ts_event_ns) FROM bars WHERE run_id = ?", (r["run_id"],)).fetchone()[0]
            assert last < split
        for r in tested:
            first = conn.execute("SELECT MIN(ts_event_ns) FROM bars WHERE run_id = ?",
                                 (r["out_of_sample"]["run_id"],)).fetchone()[0]
            assert first == split
    finally:
        conn.close()
    for r in tested:
        solo = tmp_path / f"solo-{r['variant']}.db"
        params = [x for k, v in r["params"].items() for x in ("--param", f"{k}={v}")]
        assert main(["run", "--secmaster", str(sweep_secmaster), "--runs-db", str(solo), "--strategy", SPEC, *params,
                     "--commission-per-unit", "0.01", "--start", iso_ns(split), "--in-process", "--json"]) == 0
        solo_id = json.loads(capsys.readouterr().out)["run_id"]
        assert same_events(db, r["out_of_sample"]["run_id"], solo, solo_id), r
    # the report puts both side by side
    pytest.importorskip("matplotlib")
    page = tmp_path / "s.html"
    assert main(["sweep", "report", out["sweep_id"], "--runs-db", str(db), "-o", str(page)]) == 0
    text = page.read_text()
    assert "In sample vs out of sample" in text and "Spearman" in text and "OOS Sharpe" in text


def test_holdout_at_a_time_and_bad_combinations(sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "runs.db"
    ts = _bar_times(sweep_secmaster)
    at = iso_ns(int(ts[200]))
    code, out = sweep_json(capsys, sweep_args(sweep_secmaster, db, "--grid", "fast=2,3", "--param", "slow=10",
                                              "--holdout", at, "--workers", "1"))
    assert code == 0 and out["holdout"]["split_ns"] == int(ts[200]) and out["holdout"]["top"] == 5
    assert sum(r["out_of_sample"] is not None for r in out["results"]) == 2  # top 5 of 2
    for extra, message in [
        (["--holdout", "0%"], "--holdout"),
        (["--holdout", "soon"], "P%"),
        (["--holdout", "2030-01-01T00:00:00Z"], "nothing held out"),
        (["--holdout", "30%", "--walk-forward", "3"], "give one"),
        (["--top", "3"], "only with --holdout"),
        (["--walk-forward", "1"], "2 or more"),
        (["--search", "tpe"], "--trials"),
        (["--search", "annealing"], "grid, random, tpe"),
    ]:
        try:
            code = main(sweep_args(sweep_secmaster, tmp_path / "bad.db", "--grid", "fast=2,3", *extra))
        except SystemExit as exc:  # a flag's own check (argparse)
            code = exc.code
        assert code == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
    assert not (tmp_path / "bad.db").exists()


def test_walk_forward_windows_tile_the_data(sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "runs.db"
    code, out = sweep_json(capsys, sweep_args(sweep_secmaster, db, "--grid", "fast=2:4:1", "--grid", "slow=10,15",
                                              "--walk-forward", "4", "--sort", "sharpe", "--workers", "2"))
    assert code == 0 and out["status"] == "completed"
    ts = _bar_times(sweep_secmaster)
    windows = out["walk_forward"]
    assert len(windows) == 4 and windows[0]["start_ns"] == ts[0] and windows[-1]["end_ns"] == ts[-1]
    for a, b in zip(windows, windows[1:]):
        assert b["start_ns"] == a["end_ns"] + 1  # no gap, no overlap
    inside = [sum(1 for t in ts if w["start_ns"] <= t <= w["end_ns"]) for w in windows]
    assert sum(inside) == len(ts) and max(inside) - min(inside) <= 1
    conn = sqlite3.connect(db)
    try:
        for w in windows:
            rows = conn.execute("SELECT run_id FROM sweep_variants WHERE phase = 'wf' AND wf_window = ?", (w["window"],))
            for (run_id,) in rows.fetchall():  # each window's grid ran on that window only
                seen = json.loads(conn.execute("SELECT stats FROM run_metrics WHERE run_id = ? AND strategy_id = ''"
                                               " AND symbol = ''", (run_id,)).fetchone()[0])["data"]
                assert w["start_ns"] == seen["first_bar_ns"] and seen["last_bar_ns"] <= w["end_ns"]
    finally:
        conn.close()
    for prev, w in zip(windows, windows[1:]):  # the previous window's best, run on this window
        assert w["out_of_sample"]["params"] == prev["best"]["params"]
    assert main(["sweep", "show", out["sweep_id"], "--runs-db", str(db)]) == 0
    assert "walk-fwd    4 windows" in capsys.readouterr().out
    pytest.importorskip("matplotlib")
    page = tmp_path / "s.html"
    assert main(["sweep", "report", out["sweep_id"], "--runs-db", str(db), "-o", str(page)]) == 0
    text = page.read_text()
    section = text[text.index("<h2>Walk-forward</h2>"):]
    assert section.count("<tr><td class=\"l\">") == 4 and "stitched out-of-sample equity" in section
    for w in windows[1:]:
        assert w["out_of_sample"]["run_id"] in section


def test_tpe_with_a_seed_gives_the_same_trials_twice(sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("optuna")
    trials = []
    for k in range(2):
        code, out = sweep_json(capsys, sweep_args(sweep_secmaster, tmp_path / f"runs{k}.db", "--grid", "fast=2:12:1",
                                                  "--grid", "slow=10:40:5", "--where", "fast < slow", "--search", "tpe",
                                                  "--trials", "10", "--seed", "11", "--sort", "sharpe",
                                                  "--workers", "2"))
        assert code == 0 and out["completed"] == 10 and out["search"]["method"] == "tpe"
        trials.append([(r["params"], r["sharpe"]) for r in sorted(out["results"], key=lambda r: r["variant"])])
    assert trials[0] == trials[1]
    assert len({json.dumps(p, sort_keys=True) for p, _ in trials[0]}) == 10  # distinct grid points
    assert all(p["fast"] < p["slow"] and (p["slow"] - 10) % 5 == 0 for p, _ in trials[0])


def test_a_cancelled_holdout_sweep_resumes_into_its_out_of_sample_runs(sweep_secmaster: Path, tmp_path: Path) -> None:
    import signal

    from sweepkit import spawn, wait_for_a_merged_variant

    db = tmp_path / "runs.db"
    proc = spawn(sweep_args(sweep_secmaster, db, "--grid", "fast=3:8:1", "--param", "pause_ms=1", "--holdout", "30%",
                            "--top", "2", "--workers", "2"), f"holdout-{tmp_path.name}")
    wait_for_a_merged_variant(db, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    conn = sqlite3.connect(db)
    sweep_id = conn.execute("SELECT sweep_id FROM sweeps").fetchone()[0]
    conn.close()
    assert main(["sweep", "resume", sweep_id, "--runs-db", str(db), "--workers", "2"]) == 0
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT phase, status, COUNT(*) FROM sweep_variants GROUP BY phase, status ORDER BY phase").fetchall()
        assert rows == [(None, "completed", 6), ("oos", "completed", 2)]
        assert conn.execute("SELECT status FROM sweeps").fetchone() == ("completed",)
    finally:
        conn.close()


def test_tpe_without_optuna_is_one_clear_line(sweep_secmaster: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['optuna'] = None\n"
            "from orchestrator.cli import main\n"
            f"sys.exit(main({sweep_args(sweep_secmaster, tmp_path / 'runs.db', '--grid', 'fast=2,3', '--search', 'tpe', '--trials', '2')!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "pip install 'tickbus[optimize]'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs.db").exists()
