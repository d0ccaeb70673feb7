"""Helpers of the sweep tests: the CLI in a subprocess or in this process, runs.db reads, and a
check that no process the test started is left."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from proctools import processes_with_env

from orchestrator.cli import main
from recorder.analysis import compare_runs

#: The test strategies' file (here, not in conftest: `conftest` is whichever folder's pytest loaded last).
STRATEGIES = Path(__file__).resolve().parent / "sweep_strategies.py"

SPEC = f"{STRATEGIES}:SweepCrossing"


def sweep_args(secmaster: Path, runs_db: Path, *extra: str) -> list[str]:
    return ["sweep", "--secmaster", str(secmaster), "--runs-db", str(runs_db), "--strategy", SPEC,
            "--commission-per-unit", "0.01", *extra]


def sweep_json(capsys: Any, args: list[str]) -> tuple[int, dict[str, Any]]:
    """`tickbus sweep ... --json` in this process: (exit status, its JSON)."""
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert captured.out.strip(), f"tickbus sweep exited {code} with no JSON; stderr: {captured.err[-2000:]}"
    return code, json.loads(captured.out)


def spawn(args: list[str], tag: str, **kw: Any) -> subprocess.Popen[str]:
    """`tickbus ARGS` in a process of its own; `tag` marks it and every process it starts."""
    env = {**os.environ, "TICKBUS_TEST_TAG": tag}
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def tagged(tag: str) -> list[int]:
    """Live processes carrying TICKBUS_TEST_TAG=tag."""
    return processes_with_env("TICKBUS_TEST_TAG", tag)


def wait_for_a_merged_variant(db: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the sweep `proc` runs has merged a variant into `db` (AssertionError after `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = sqlite3.connect(db)
            try:
                if conn.execute("SELECT COUNT(*) FROM sweep_variants WHERE status = 'completed'").fetchone()[0]:
                    return
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # not created yet
        time.sleep(0.05)
    raise AssertionError(f"no variant merged within {timeout:g} s (sweep {'ended' if proc.poll() is not None else 'running'})")


def variant_rows(db: Path, sweep_id: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT variant, status, run_id, error FROM sweep_variants WHERE sweep_id = ? ORDER BY variant",
                            (sweep_id,)).fetchall()
    finally:
        conn.close()


def same_events(db_a: Path, run_a: str, db_b: Path, run_b: str) -> bool:
    """compare_runs: both runs recorded the same events (in the tables both record)."""
    a, b = sqlite3.connect(db_a), sqlite3.connect(db_b)
    try:
        return compare_runs(a, run_a, b, run_b).identical
    finally:
        a.close()
        b.close()
