"""Record levels (`tickbus run --record all|trades|summary`): what runs.db keeps, and that
`runs list/show/compare/report` work at every level with the same figures."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from components.sample_data import build_sample_secmaster
from orchestrator.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """One in-process run of the same settings at each level, each in its own runs.db."""
    folder = tmp_path_factory.mktemp("levels")
    secmaster = build_sample_secmaster(folder / "secmaster.db", symbols=3, bars=300, seed=5)
    out = {}
    for level in ("all", "trades", "summary"):
        db = folder / f"{level}.db"
        args = ["run", "--secmaster", str(secmaster), "--runs-db", str(db), "--strategy", "SMACrossover",
                "--param", "fast_period=5", "--param", "slow_period=20", "--commission-per-unit", "0.01",
                "--in-process", "--record", level, "--json"]
        assert main(args) == 0
        out[level] = (db, "latest")
    return out


def _count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_each_level_keeps_its_tables(runs: dict[str, tuple[Path, str]]) -> None:
    assert _count(runs["all"][0], "bars") == 900 and _count(runs["all"][0], "bars_processed") == 900
    assert _count(runs["trades"][0], "bars") == _count(runs["trades"][0], "bars_processed") == 0
    assert _count(runs["trades"][0], "order_submissions") == _count(runs["all"][0], "order_submissions") > 0
    assert _count(runs["summary"][0], "order_submissions") == 0
    assert _count(runs["summary"][0], "fills") == _count(runs["all"][0], "fills") > 0
    assert _count(runs["summary"][0], "run_metrics") > 0 and _count(runs["all"][0], "run_metrics") == 0


def test_show_list_and_report_give_the_same_figures_at_every_level(
        runs: dict[str, tuple[Path, str]], capsys: Any, tmp_path: Path) -> None:
    shown = {}
    for level, (db, run) in runs.items():
        assert main(["runs", "show", run, "--runs-db", str(db), "--json", "--round-trips"]) == 0
        data = json.loads(capsys.readouterr().out)
        shown[level] = (data["total"], data["strategies"], data["round_trips"])
        assert main(["runs", "list", "--runs-db", str(db), "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)[0]
        assert listed["bars"] == 900 and listed["net_pnl"] == pytest.approx(data["total"]["net_pnl"])
        assert main(["runs", "report", run, "--runs-db", str(db), "-o", str(tmp_path / f"{level}.html")]) == 0
        capsys.readouterr()
    assert shown["trades"] == shown["all"] and shown["summary"] == shown["all"]
    assert main(["runs", "show", "latest", "--runs-db", str(runs["summary"][0])]) == 0
    assert "recorded    summary: fills only" in capsys.readouterr().out


def test_compare_compares_the_tables_both_runs_recorded(runs: dict[str, tuple[Path, str]], capsys: Any) -> None:
    code = main(["runs", "compare", "latest", "latest", "--runs-db", str(runs["summary"][0]),
                 "--runs-db-b", str(runs["all"][0]), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["identical"]
    tables = {t["table"]: t for t in result["tables"]}
    assert tables["fills"]["not_compared"] is None and tables["fills"]["rows_a"] > 0
    assert tables["bars"]["not_compared"] == "run A recorded at level summary"


def _figures(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT * FROM run_metrics ORDER BY strategy_id, symbol").fetchall()
    finally:
        conn.close()


def test_figures_are_the_same_in_process_and_across_processes(runs: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    # each from the closes its datafeed kept: in the orchestrator's process, or handed over in a file
    db = tmp_path / "processes.db"
    secmaster = runs["summary"][0].parent / "secmaster.db"
    assert main(["run", "--secmaster", str(secmaster), "--runs-db", str(db), "--strategy", "SMACrossover",
                 "--param", "fast_period=5", "--param", "slow_period=20", "--commission-per-unit", "0.01",
                 "--record", "summary", "--json"]) == 0
    in_process, processes = _figures(runs["summary"][0]), _figures(db)
    assert len(in_process) > 1
    assert [row[1:] for row in in_process] == [row[1:] for row in processes]  # all but run_id


def test_the_closes_a_replay_keeps_are_the_bars_read_again(tmp_path: Path) -> None:
    from components.datafeed import ReplayedCloses, SimulatedDatafeed
    from recorder.metrics import feed_bars, replayed_bars

    secmaster = build_sample_secmaster(tmp_path / "secmaster.db", symbols=3, bars=4000, seed=9)

    class Feed(SimulatedDatafeed):
        db_path, publisher_name, dataset = str(secmaster), "tickbus", "SAMPLE"

    feed = Feed()
    feed.open()
    feed.keep_closes = True
    assert sum(len(bars) for bars in feed.timestamps()) == 12_000 > ReplayedCloses.FLUSH_AT  # moved to arrays once
    feed.close()
    kept = feed.replayed()
    assert kept is not None
    read = feed_bars(Feed)
    for replayed in (kept, ReplayedCloses.load(_saved(kept, tmp_path / "closes.bin"))):  # as kept, and as handed over
        bars = replayed_bars(replayed)
        assert bars.bar_period == read.bar_period and bars.symbol == read.symbol
        assert bars.ts.tolist() == read.ts.tolist() and bars.close.tobytes() == read.close.tobytes()
    from orchestrator.process_run import _replayed

    whole = (tmp_path / "closes.bin").read_bytes()
    (tmp_path / "closes.bin").write_bytes(whole[:-8])  # one close short: unreadable, so read the bars again
    assert _replayed(tmp_path / "closes.bin") is None and _replayed(tmp_path / "absent.bin") is None
    plain = Feed()
    plain.open()
    assert sum(len(bars) for bars in plain.timestamps()) == 12_000 and plain.replayed() is None  # kept only when asked
    plain.close()


def _saved(replayed: Any, path: Path) -> Path:
    closes, symbols, bar_period = replayed
    closes.save(path, symbols, bar_period)
    return path
