"""runs.db both ways with the real seed (onesecondtrader 0.75.0): tickbus reads a seed-made file
without touching it, records into it by upgrading it in place, and the seed's own orchestrator and
dashboard keep working on what tickbus wrote."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from components.sample_data import build_sample_secmaster
from recorder import runsdb
from recorder.tables import TABLES
from seedkit import require_seed, seed_dashboard, seed_run

require_seed()
SYMBOLS = ["SYM000", "SYM001"]


@pytest.fixture(scope="module")
def secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_secmaster(tmp_path_factory.mktemp("seed_secmaster") / "secmaster.db", symbols=2, bars=200)


@pytest.fixture(scope="module")
def seed_db(secmaster: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A runs.db made by the seed: one single-strategy run and one with two strategies."""
    db = tmp_path_factory.mktemp("seed_runs") / "runs.db"
    one = seed_run(secmaster, db, SYMBOLS, [(5, 20)])
    two = seed_run(secmaster, db, SYMBOLS, [(5, 20), (10, 30)])
    return db, one, two


def tickbus(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def layout(db: Path) -> tuple[int, dict[str, list[str]], dict[str, int]]:
    """(user_version, columns per table, rows per table) as the file holds them."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        cols = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
        return conn.execute("PRAGMA user_version").fetchone()[0], cols, rows
    finally:
        conn.close()


def copy(db: Path, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    shutil.copy(db, to / db.name)
    return to / db.name


def test_tickbus_reads_a_seed_runs_db_without_writing_it(seed_db: tuple[Path, str, str], tmp_path: Path) -> None:
    db = copy(seed_db[0], tmp_path)
    _, one, two = seed_db
    before = layout(db)
    assert before[0] == 1 and "strategy_id" not in before[1]["fills"] and "error" not in before[1]["runs"]

    listed = tickbus("runs", "list", "--runs-db", str(db), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["run_id"]: r for r in json.loads(listed.stdout)}
    assert rows[one]["strategies"] == ["SMA 5/20"] and rows[two]["strategies"] == ["SMA 5/20 + SMA 10/30"]
    assert rows[one]["bars"] == 400 and rows[one]["fills"] > 0

    shown = tickbus("runs", "show", one, "--runs-db", str(db), "--json", "--round-trips")
    assert shown.returncode == 0, shown.stderr
    a = json.loads(shown.stdout)
    assert list(a["strategies"]) == ["SMA 5/20"]  # every fill is its one strategy's
    assert a["strategies"]["SMA 5/20"]["total"]["fills"] == a["total"]["fills"] == rows[one]["fills"]
    assert {t["strategy_id"] for t in a["round_trips"]} == {"SMA 5/20"}

    text = tickbus("runs", "show", two, "--runs-db", str(db))
    assert text.returncode == 0, text.stderr
    header = next(line for line in text.stdout.splitlines() if line.lstrip().startswith("total"))
    assert header.split() == ["total", "SMA", "5/20", "+", "SMA", "10/30"]  # two headers, two values per row
    net = next(line for line in text.stdout.splitlines() if line.startswith("net PnL"))
    assert len(net.split()) == 4  # "net", "PnL", total, the one (unattributed) strategy
    assert "range       2024-01-02T00:00:00Z .. 2024-01-02T23:59:59.999999999Z" in text.stdout
    assert "shown together, under 'SMA 5/20 + SMA 10/30'" in text.stdout

    compared = tickbus("runs", "compare", one, one, "--runs-db", str(db))
    assert compared.returncode == 0 and "identical" in compared.stdout, compared.stderr
    assert layout(db) == before  # not a byte of schema or data changed


def test_recording_into_a_seed_runs_db_upgrades_it_in_place(seed_db: tuple[Path, str, str], secmaster: Path, tmp_path: Path) -> None:
    db = copy(seed_db[0], tmp_path)
    _, before_cols, before_rows = layout(db)
    keep = {t: sqlite3.connect(db).execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES.values()}
    r = tickbus("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--strategy", "SMACrossover",
                "--param", "fast_period=5", "--param", "slow_period=20", "--start", "2024-01-02", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["status"] == "completed" and result["bars"] == 400

    version, cols, rows = layout(db)
    assert version == runsdb.SCHEMA_VERSION
    for table, names in before_cols.items():
        assert cols[table][: len(names)] == names  # seed columns first, in place; tickbus's appended
    assert "strategy_id" in cols["fills"] and "error" in cols["runs"] and "expires_at_ns" in cols["order_submissions"]
    conn = sqlite3.connect(db)
    for table, old in keep.items():  # every seed row kept, unchanged (new columns NULL)
        got = conn.execute(f"SELECT * FROM {table} WHERE id <= ? ORDER BY id", (old[-1][0] if old else 0,)).fetchall()
        assert [g[: len(o)] for g, o in zip(got, old)] == old and len(got) == len(old)
    assert rows["runs"] == before_rows["runs"] + 1
    config = json.loads(conn.execute("SELECT config FROM runs WHERE run_id = ?", (result["run_id"],)).fetchone()[0])
    assert (config["start_date"], config["end_date"]) == ("2024-01-02", None)
    assert config["start_ns"] == 1_704_153_600_000_000_000
    assert conn.execute("SELECT COUNT(*) FROM fills WHERE run_id = ? AND strategy_id = 'SMA-Crossover'",
                        (result["run_id"],)).fetchone()[0] == result["fills"] > 0
    conn.close()
    listed = tickbus("runs", "list", "--runs-db", str(db), "--json")
    assert [r["run_id"] for r in json.loads(listed.stdout)][0] == result["run_id"]


def _make_read_only(db: Path) -> None:
    """Read-only for this user; root ignores modes, so there the file is made immutable."""
    if os.geteuid() != 0:
        db.chmod(0o444)
        db.parent.chmod(0o555)
        return
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not available: cannot make a read-only file")


def _make_writable(db: Path) -> None:
    if os.geteuid() != 0:
        db.parent.chmod(0o755)
        db.chmod(0o644)
    else:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)


def test_a_read_only_seed_runs_db_gets_a_one_line_error_and_still_reads(seed_db: tuple[Path, str, str], secmaster: Path, tmp_path: Path) -> None:
    db = copy(seed_db[0], tmp_path / "ro")
    sqlite3.connect(db).execute("PRAGMA journal_mode = DELETE").close()  # no -wal/-shm needed to read it
    _make_read_only(db)
    try:
        r = tickbus("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--strategy", "SMACrossover")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert str(db) in lines[0] and "read-only" in lines[0]
        listed = tickbus("runs", "list", "--runs-db", str(db), "--json")
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 2, listed.stderr
    finally:
        _make_writable(db)


def test_the_seed_reads_and_writes_what_tickbus_wrote(secmaster: Path, tmp_path: Path) -> None:
    """A tickbus-made runs.db: the seed's orchestrator records into it, its dashboard lists and
    analyses tickbus's runs (and its own) and deletes one cleanly; tickbus reads all of it."""
    db = tmp_path / "runs.db"
    r = tickbus("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--strategy", "SMACrossover",
                "--param", "fast_period=5", "--param", "slow_period=20", "--start", "2024-01-02", "--end", "2024-01-02", "--json")
    assert r.returncode == 0, r.stderr
    ours = json.loads(r.stdout)["run_id"]
    theirs = seed_run(secmaster, db, SYMBOLS, [(5, 20)])

    with seed_dashboard(db, secmaster, tmp_path / "presets.db", tmp_path) as seed:
        runs = {r["run_id"]: r for r in seed.get("/api/runs")["runs"]}
        assert set(runs) == {ours, theirs}
        assert runs[ours]["status"] == "completed"
        # the seed shows the config's dates as they are: tickbus writes them the seed's way
        assert (runs[ours]["config"]["start_date"], runs[ours]["config"]["end_date"]) == ("2024-01-02", "2024-01-02")
        trips = seed.get(f"/api/runs/{ours}/roundtrips")["roundtrips"]
        assert trips and {t["symbol"] for t in trips} <= set(SYMBOLS)
        assert seed.get(f"/api/runs/{ours}/symbols")["symbols"] == SYMBOLS
        assert seed.get(f"/api/runs/{ours}/indicators")["indicators"] == ["SMA_20_CLOSE", "SMA_5_CLOSE"]
        segments = seed.get(f"/api/runs/{ours}/chart-segments?mode=bars&bars_per_chart=100&overlap=10")["segments"]
        assert len(segments) == 6 and segments[0]["bar_count"] == 100
        bars = seed.get(f"/api/runs/{ours}/bars?symbol=SYM000")
        assert len(bars["bars"]) == 200 and set(bars["indicators"]) == {"SMA_20_CLOSE", "SMA_5_CLOSE"}
        status, body = seed.call("DELETE", "/api/runs", {"run_ids": [ours]})
        assert status == 200 and body == {"deleted": 1}

    conn = sqlite3.connect(db)
    assert all(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE run_id = ?", (ours,)).fetchone()[0] == 0 for t in TABLES.values())
    conn.close()
    listed = tickbus("runs", "list", "--runs-db", str(db), "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["run_id"] == theirs and row["strategies"] == ["SMA 5/20"] and row["fills"] > 0
    shown = tickbus("runs", "show", theirs, "--runs-db", str(db), "--json")
    assert shown.returncode == 0 and list(json.loads(shown.stdout)["strategies"]) == ["SMA 5/20"], shown.stderr
