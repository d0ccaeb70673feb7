"""Symbol types and bar periods: a continuous contract the seed's tools built replays in tickbus
exactly as in the seed, chosen with --symbol-type (or RUN.toml); --bar-period picks among periods."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from seedkit import futures_secmaster, require_seed, seed_run

require_seed()

ROLL = dt.date(2024, 3, 15)  # third Friday of March: ESH4's expiry, where ES.c.0 rolls to ESM4


def tickbus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def futures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return futures_secmaster(tmp_path_factory.mktemp("futures"))


def recorded_bars(runs_db: Path, run_id: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(runs_db) as conn:
        return conn.execute("SELECT ts_event_ns, symbol, bar_period, open, high, low, close, volume FROM bars"
                            " WHERE run_id = ? ORDER BY ts_event_ns", (run_id,)).fetchall()


def test_a_seed_built_continuous_contract_replays_as_in_the_seed(futures: Path, tmp_path: Path) -> None:
    runs_db = tmp_path / "runs.db"
    r = tickbus("run", "--secmaster", str(futures), "--runs-db", str(runs_db), "--strategy", "SMACrossover",
                "--symbol-type", "continuous", "--symbols", "ES.c.0", "--bar-period", "DAY", "--in-process", "--json")
    assert r.returncode == 0, r.stderr
    ours = recorded_bars(runs_db, json.loads(r.stdout)["run_id"])
    days = [dt.datetime.fromtimestamp(b[0] / 1e9, dt.timezone.utc).date() for b in ours]
    assert len(ours) == 12 and {b[1:3] for b in ours} == {("ES.c.0", "DAY")}
    # the front month: ESH4's bars until the roll, ESM4's from it
    assert [b[6] > 5200 for b in ours] == [d >= ROLL for d in days]

    theirs = seed_run(futures, tmp_path / "seed.db", ["ES.c.0"], start_date="2024-03-11", end_date="2024-03-22",
                      bar_period="DAY", publisher="databento", dataset="GLBX.MDP3", symbol_type="continuous")
    assert recorded_bars(tmp_path / "seed.db", theirs) == ours


def test_symbol_type_and_bar_period_in_run_toml(futures: Path, tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(f'secmaster = "{futures}"\nruns_db = "{tmp_path / "runs.db"}"\nin_process = true\n'
                    'symbol_type = "continuous"\nsymbols = ["ES.c.0"]\nbar_period = "1h"\n'
                    '[[strategy]]\nspec = "SMACrossover"\nparams = { fast_period = 5, slow_period = 10 }\n')
    r = tickbus("run", str(toml), "--json")
    assert r.returncode == 0, r.stderr
    bars = recorded_bars(tmp_path / "runs.db", json.loads(r.stdout)["run_id"])
    assert len(bars) == 48 and {b[1:3] for b in bars} == {("ES.c.0", "HOUR")}
    with sqlite3.connect(tmp_path / "runs.db") as conn:  # the strategy followed the data's period
        processed = conn.execute("SELECT COUNT(*) FROM bars_processed").fetchone()[0]
    assert processed == 48


@pytest.mark.parametrize("args, message", [
    ([], "several periods"),
    (["--bar-period", "WEEK"], "expected one of SECOND (1s), MINUTE (1m), HOUR (1h), DAY (1d), got 'WEEK'"),
    (["--bar-period", "1m"], "no MINUTE bars"),
    (["--symbol-type", "ticker"], "no symbols of type 'ticker' (symbol types present: continuous, raw_symbol)"),
    (["--symbol-type", "continuous", "--symbols", "ESH4", "--bar-period", "1d"], "unknown symbol(s)"),
])
def test_wrong_symbol_type_or_period_is_one_line(futures: Path, tmp_path: Path, args: list[str], message: str) -> None:
    r = tickbus("run", "--secmaster", str(futures), "--runs-db", str(tmp_path / "runs.db"), "--strategy", "SMACrossover", *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr
