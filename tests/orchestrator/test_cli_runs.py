"""`tickbus runs list | show | report | compare` on real in-process runs, and their one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from components.sample_data import build_sample_secmaster
from orchestrator.cli import main
from recorder import runsdb


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Two identical real runs (SMACrossover + RSIMeanReversion, 2 symbols x 300 bars) in one runs.db."""
    d = tmp_path_factory.mktemp("cli_runs")
    secmaster = build_sample_secmaster(d / "secmaster.db", symbols=2, bars=300, seed=5)
    db = d / "runs.db"
    ids = []
    for _ in range(2):
        r = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "run", "--secmaster", str(secmaster), "--runs-db", str(db),
             "--strategy", "SMACrossover", "--param", "fast_period=5", "--param", "slow_period=20",
             "--strategy", "RSIMeanReversion", "--in-process", "--json"],
            capture_output=True, text=True, timeout=120,
        )
        assert r.returncode == 0, r.stderr
        ids.append(json.loads(r.stdout)["run_id"])
    return db, ids


def tickbus(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("tickbus runs: error: ")
    return lines[0]


def test_list_json_newest_first(runs: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = runs
    code, out, _ = tickbus(capsys, "runs", "list", "--runs-db", str(db), "--json")
    rows = json.loads(out)
    assert code == 0 and [r["run_id"] for r in rows] == ids[::-1]
    r = rows[0]
    assert r["status"] == "completed" and r["strategies"] == ["SMA-Crossover", "RSI-Mean-Reversion"]
    assert r["symbols"] == ["SYM000", "SYM001"] and r["bars"] == 600 and r["fills"] > 10
    assert isinstance(r["net_pnl"], float) and r["wall_time_s"] > 0
    code, out, _ = tickbus(capsys, "runs", "list", "--runs-db", str(db))
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["run", "id", "status"] and lines[1].startswith(ids[1]) and len(lines) == 3


def test_show_json_has_config_and_figures_per_strategy_and_total(runs: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = runs
    code, out, _ = tickbus(capsys, "runs", "show", ids[0], "--runs-db", str(db), "--json", "--round-trips")
    d = json.loads(out)
    assert code == 0 and d["run"]["run_id"] == ids[0] and d["run"]["config"]["mode"] == "backtest"
    assert set(d["strategies"]) == {"SMA-Crossover", "RSI-Mean-Reversion"}
    total = d["total"]
    assert total["net_pnl"] == pytest.approx(sum(s["total"]["net_pnl"] for s in d["strategies"].values()))
    assert total["fills"] == d["recorded"]["fills"] and total["round_trips"] == len(d["round_trips"])
    for key in ("realized", "unrealized", "commission", "win_rate", "profit_factor", "avg_win", "avg_loss", "max_drawdown",
                "max_drawdown_pct", "exposure", "sharpe", "sortino", "open_positions"):
        assert key in total
    assert d["annualisation"]["periods_per_year"] == 98_280
    [listed] = [r for r in json.loads(tickbus(capsys, "runs", "list", "--runs-db", str(db), "--json")[1]) if r["run_id"] == ids[0]]
    assert listed["net_pnl"] == pytest.approx(total["net_pnl"])


def test_show_text(runs: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = runs
    code, out, _ = tickbus(capsys, "runs", "show", "latest", "--runs-db", str(db))
    assert code == 0 and f"run         {ids[1]}" in out and "status      completed" in out
    assert re.search(r"^Sharpe \(annualised\)\s", out, re.M) and "x sqrt(98,280)" in out
    assert "per symbol" in out and "SMA-Crossover       SYM000" in out


def test_report_writes_a_self_contained_html(runs: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    db, ids = runs
    out_file = tmp_path / "report.html"
    code, out, err = tickbus(capsys, "runs", "report", ids[0], "--runs-db", str(db), "-o", str(out_file))
    assert code == 0, err
    assert out.startswith(f"wrote {out_file} (")
    page = out_file.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 4  # equity, drawdown, 2 symbols
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page


def test_report_without_matplotlib_is_one_line(runs: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    db, ids = runs
    code, _, err = tickbus(capsys, "runs", "report", ids[0], "--runs-db", str(db), "-o", str(tmp_path / "r.html"))
    assert "pip install 'tickbus[report]'" in one_line_error(code, err)
    assert not (tmp_path / "r.html").exists()


def test_compare_identical_and_planted_difference(runs: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db, ids = runs
    code, out, _ = tickbus(capsys, "runs", "compare", ids[0], ids[1], "--runs-db", str(db))
    assert code == 0 and "identical: both runs recorded the same" in out
    other = tmp_path / "other.db"
    shutil.copy(db, other)
    conn = sqlite3.connect(other)
    conn.execute("UPDATE fills SET fill_price = fill_price + 0.01 WHERE id = (SELECT MAX(id) FROM fills WHERE run_id = ?)", (ids[1],))
    conn.commit()
    conn.close()
    code, out, _ = tickbus(capsys, "runs", "compare", ids[0], ids[1], "--runs-db", str(db), "--runs-db-b", str(other), "--json")
    d = json.loads(out)
    assert code == 1 and not d["identical"]
    diffs = {t["table"]: t["difference"] for t in d["tables"]}
    assert [t for t, v in diffs.items() if v] == ["fills"] and "fill_price" in diffs["fills"]
    code, out, _ = tickbus(capsys, "runs", "compare", ids[0], ids[1], "--runs-db", str(db), "--runs-db-b", str(other))
    assert code == 1 and "different: 1 of 13 tables differ" in out


def test_unknown_run_lists_the_closest_ids(runs: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = runs
    code, _, err = tickbus(capsys, "runs", "show", ids[0][:-3] + "xyz", "--runs-db", str(db))
    line = one_line_error(code, err)
    assert "no run" in line and "closest:" in line and ids[0] in line


def test_not_a_runs_db_newer_schema_and_missing_file(runs: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db, ids = runs
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    assert "not a runs database" in one_line_error(*tickbus(capsys, "runs", "list", "--runs-db", str(junk))[::2])
    newer = tmp_path / "newer.db"
    shutil.copy(db, newer)
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    assert "newer" in one_line_error(*tickbus(capsys, "runs", "show", ids[0], "--runs-db", str(newer))[::2])
    code, _, err = tickbus(capsys, "runs", "list", "--runs-db", str(tmp_path / "missing.db"))
    assert "no such runs database" in one_line_error(code, err)
    assert not (tmp_path / "missing.db").exists()


def test_running_and_failed_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    conn = runsdb.connect(db)
    running = runsdb.create_run(conn, ["A"], {"strategies": ["A"], "components": {"strategies": [{"strategy_id": "A"}]}})
    conn.execute("INSERT INTO bars (run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume)"
                 " VALUES (?, 1, 1, 'X', 'MINUTE', 1, 1, 1, 1, 1)", (running,))
    failed = runsdb.create_run(conn, ["B"], {"strategies": ["B"]})
    runsdb.finish_run(conn, failed, "failed", "Traceback (most recent call last):\n  File x\nValueError: boom")
    conn.close()
    for command in ("show", "report", "compare"):
        args = ["runs", command, running] + ([running] if command == "compare" else []) + ["--runs-db", str(db)]
        line = one_line_error(*tickbus(capsys, *args)[::2])
        assert f"run {running} is still running" in line and "1 bars and 0 fills recorded so far" in line
    code, out, _ = tickbus(capsys, "runs", "show", running, "--runs-db", str(db), "--partial")
    assert code == 0 and "status      running  (still being recorded" in out
    code, out, _ = tickbus(capsys, "runs", "show", failed, "--runs-db", str(db))
    assert code == 0 and "status      failed" in out and "ValueError: boom" in out
    code, out, _ = tickbus(capsys, "runs", "show", failed, "--runs-db", str(db), "--json")
    assert json.loads(out)["run"]["error"].endswith("ValueError: boom")
    code, out, _ = tickbus(capsys, "runs", "list", "--runs-db", str(db), "--json")
    assert {r["status"] for r in json.loads(out)} == {"running", "failed"}
