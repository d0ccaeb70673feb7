"""Runs database: schema, run ids that never collide, status life cycle, bad files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from recorder import runsdb


def test_schema_has_the_seeds_tables_plus_strategy_id(tmp_path: Path) -> None:
    conn = runsdb.connect(tmp_path / "runs.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {
        "runs", "bars", "bars_processed", "order_submissions", "order_cancellations", "order_modifications",
        "orders_accepted", "orders_rejected", "cancellations_accepted", "cancellations_rejected",
        "modifications_accepted", "modifications_rejected", "fills", "expirations",
        "run_metrics", "sweeps", "sweep_variants",
    }
    fill_cols = [r[1] for r in conn.execute("PRAGMA table_info(fills)")]
    assert fill_cols[:4] == ["id", "run_id", "ts_event_ns", "ts_created_ns"]
    assert "strategy_id" in fill_cols
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == runsdb.SCHEMA_VERSION == 2


def test_run_ids_in_the_same_second_never_collide(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    runsdb.connect(db).close()
    ids: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        conn = runsdb.connect(db)
        for _ in range(5):
            rid = runsdb.create_run(conn, ["SMA Crossover"], {"x": 1})
            with lock:
                ids.append(rid)
        conn.close()

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(ids) == 20 and len(set(ids)) == 20
    assert all("_SMA-Crossover" in i for i in ids)


CREATE_AT = """
import sys, time
from recorder import runsdb
start = float(sys.argv[2])
while time.time() < start:  # both processes reach connect() at the same moment
    pass
conn = runsdb.connect(sys.argv[1])
print(runsdb.create_run(conn, ["Both"], {}))
"""


def test_two_processes_creating_one_new_runs_db_at_once_both_succeed(tmp_path: Path) -> None:
    # Two runs started together into a new runs.db: switching it to WAL does not wait for the busy
    # timeout, and one of them used to fail with 'database is locked' (9 times out of 10 here).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
    for attempt in range(5):
        db = tmp_path / f"runs{attempt}.db"
        start = repr(time.time() + 0.5)
        procs = [subprocess.Popen([sys.executable, "-c", CREATE_AT, str(db), start], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
        ids = {out.strip() for out, _ in outs}
        assert len(ids) == 2
        conn = runsdb.connect(db)
        assert {r[0] for r in conn.execute("SELECT run_id FROM runs")} == ids
        conn.close()


def test_finish_run_sets_status_end_and_error(tmp_path: Path) -> None:
    conn = runsdb.connect(tmp_path / "runs.db")
    rid = runsdb.create_run(conn, ["A", "B"], {"symbols": ["X"]})
    row = conn.execute("SELECT name, status, ts_end, config FROM runs WHERE run_id=?", (rid,)).fetchone()
    assert row[0] == "A_B" and row[1] == "running" and row[2] is None and json.loads(row[3]) == {"symbols": ["X"]}
    runsdb.finish_run(conn, rid, "failed", "boom")
    status, ts_end, error = conn.execute("SELECT status, ts_end, error FROM runs WHERE run_id=?", (rid,)).fetchone()
    assert (status, error) == ("failed", "boom") and ts_end > 0
    with pytest.raises(ValueError):
        runsdb.finish_run(conn, rid, "weird")


def test_not_a_runs_database_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(runsdb.RunsDbError, match="junk.db"):
        runsdb.connect(junk)
    other = tmp_path / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    with pytest.raises(runsdb.RunsDbError, match="no 'runs' table"):
        runsdb.connect(other)
    newer = tmp_path / "newer.db"
    c = sqlite3.connect(newer)
    c.execute("PRAGMA user_version = 99")
    c.execute("CREATE TABLE runs (x)")
    c.commit()
    c.close()
    with pytest.raises(runsdb.RunsDbError, match="newer"):
        runsdb.connect(newer)
    with pytest.raises(runsdb.RunsDbError, match="no such runs database"):
        runsdb.connect(tmp_path / "missing.db", create=False)


def test_an_older_tickbus_file_is_upgraded_by_the_version_alone(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    conn = runsdb.connect(db)
    rid = runsdb.create_run(conn, ["A"], {})
    conn.execute("PRAGMA user_version = 1")  # a version-1 tickbus file: every column already there
    conn.close()
    conn = runsdb.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [r[0] for r in conn.execute("SELECT run_id FROM runs")] == [rid]
    conn.close()


def test_range_config_is_readable_by_both_tools(tmp_path: Path) -> None:
    from recorder.analysis.catalog import RunInfo

    day = 1_704_153_600_000_000_000  # 2024-01-02T00:00:00Z
    whole = runsdb.range_config(day, day + runsdb.NS_PER_DAY - 1)
    assert whole == {"start_date": "2024-01-02", "end_date": "2024-01-02", "start_ns": day, "end_ns": day + runsdb.NS_PER_DAY - 1}
    part = runsdb.range_config(day + 3_600_000_000_000, None)
    assert part == {"start_date": "2024-01-02T01:00:00Z", "end_date": None, "start_ns": day + 3_600_000_000_000, "end_ns": None}

    def bounds(config: dict[str, object]) -> tuple[int | None, int | None]:
        return RunInfo("r", "r", "completed", 0, 0, config, None, None).range_ns

    assert bounds(whole) == (day, day + runsdb.NS_PER_DAY - 1)
    assert bounds({"start_date": "2024-01-02", "end_date": "2024-01-02"}) == (day, day + runsdb.NS_PER_DAY - 1)  # the seed's
    assert bounds({"start_date": day, "end_date": None}) == (day, None)  # an older tickbus's ns
    assert bounds({"start_date": "not a date"}) == (None, None)
