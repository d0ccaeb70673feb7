"""The dashboard on the seed's files: a runs.db the seed recorded (upgraded at start, its runs shown
with every view), and a presets.db both dashboards share."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path

from components.sample_data import build_sample_secmaster
from dashkit import serve
from proctools import free_port
from seedkit import futures_secmaster, require_seed, seed_dashboard, seed_run

require_seed()


def test_the_dashboard_on_the_seeds_databases(tmp_path: Path) -> None:
    secmaster = build_sample_secmaster(tmp_path / "secmaster.db", symbols=2, bars=200)
    one = seed_run(secmaster, tmp_path / "runs.db", ["SYM000", "SYM001"], [(5, 20)])  # "..._SMA 5/20": a '/' in the id
    two = seed_run(secmaster, tmp_path / "runs.db", ["SYM000", "SYM001"], [(5, 20), (10, 30)])
    with serve(tmp_path, secmaster) as (dash, _), seed_dashboard(tmp_path / "runs.db", secmaster, tmp_path / "presets.db", tmp_path) as seed:
        with sqlite3.connect(tmp_path / "runs.db") as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # upgraded in place at start

        listed = {r["key"]: r for r in dash.get("/api/runs")["runs"]}
        assert listed[one]["strategies"] == ["SMA 5/20"] and listed[two]["strategies"] == ["SMA 5/20 + SMA 10/30"]
        assert listed[one]["seed"] and listed[one]["status"] == "completed"

        path = urllib.parse.quote(two)
        run = dash.get(f"/api/runs/{path}")
        assert run["results"]["stats"]["header"] == ["", "total", "SMA 5/20 + SMA 10/30"]
        assert any("shown together, under 'SMA 5/20 + SMA 10/30'" in n for n in run["results"]["notes"])
        assert dict(run["configuration"])["strategies"] == "SMA 5/20, SMA 10/30 (recorded by onesecondtrader)"
        assert dict(run["configuration"])["range"] == "2024-01-02T00:00:00Z … 2024-01-02T23:59:59.999999999Z"
        perf = dash.get(f"/api/runs/{path}/performance")
        assert perf["summary"]["trips"] == run["results"]["round_trips_total"] > 0
        segments = dash.get(f"/api/runs/{path}/segments?symbol=SYM000&mode=trades&padding=5")["segments"]
        price = dash.get(f"/api/runs/{path}/price?symbol=SYM000&start={segments[0]['start_ns']}&end={segments[0]['end_ns']}&trade={segments[0]['trade']}")
        assert price["pnl"]["points"] and {i["label"] for i in price["indicators"]} == {"SMA_5_CLOSE", "SMA_20_CLOSE", "SMA_10_CLOSE", "SMA_30_CLOSE"}
        status, page = dash.call("GET", f"/runs/{urllib.parse.quote(one)}")
        assert status == 200 and "recorded by onesecondtrader" in page and 'id="equity-chart"' in page

        # presets: what one dashboard saves, the other lists
        status, _ = seed.call("POST", "/api/presets", {"name": "from the seed", "rtype": 33, "publisher_name": "tickbus",
                                                       "publisher_id": 1, "symbols": ["SYM000"], "symbol_type": "raw_symbol"})
        assert status == 200
        assert [p["name"] for p in dash.get("/api/presets")["presets"]] == ["from the seed"]
        status, _ = dash.call("POST", "/api/presets", {"name": "from tickbus", "rtype": 33, "publisher_name": "tickbus",
                                                       "publisher_id": 1, "symbols": ["SYM001"], "symbol_type": "raw_symbol"})
        assert status == 200
        theirs = {p["name"]: p for p in seed.get("/api/presets")["presets"]}
        assert theirs["from tickbus"]["symbols"] == ["SYM001"] and set(theirs) == {"from the seed", "from tickbus"}

        # the seed still reads the upgraded file, and deletes a run tickbus then no longer lists
        assert {r["run_id"] for r in seed.get("/api/runs")["runs"]} == {one, two}
        assert seed.call("DELETE", "/api/runs", {"run_ids": [one]}) == (200, {"deleted": 1})
        assert [r["key"] for r in dash.get("/api/runs")["runs"]] == [two]


def test_a_runs_db_it_cannot_use_stops_the_dashboard_with_one_line(tmp_path: Path) -> None:
    """Before it listens (a read-only seed-made file is covered for `tickbus run`, the same check)."""
    db = tmp_path / "runs.db"
    db.write_bytes(b"not a database at all" * 50)
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "dashboard", "--runs-db", str(db), "--port", str(free_port())],
                       capture_output=True, text=True, timeout=60)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and str(db) in lines[0] and "not a runs database" in lines[0], r.stderr


def test_launching_a_seed_built_continuous_contract(tmp_path: Path) -> None:
    secmaster = futures_secmaster(tmp_path)
    with serve(tmp_path, secmaster) as (dash, _):
        [ds] = dash.get("/api/secmaster")["datasets"]
        assert ds["symbol_types"] == ["raw_symbol", "continuous"] and ds["periods"] == ["HOUR", "DAY"]
        assert [s["symbol"] for s in ds["coverage"]["continuous"]["DAY"]] == ["ES.c.0"]
        body = {"strategies": [{"key": "components.examples.sma_crossover:SMACrossover", "params": {"fast_period": "5", "slow_period": "10"}}],
                "dataset": "databento/GLBX.MDP3", "symbols": ["ES.c.0"]}
        status, reply = dash.call("POST", "/api/runs", body)
        assert status == 422 and reply["errors"]["fields"] == {"bar_period": "choose a bar period (HOUR, DAY)"}
        status, reply = dash.call("POST", "/api/runs", {**body, "bar_period": "DAY"})  # ES.c.0 is no raw symbol
        assert status == 422 and reply["errors"]["fields"] == {"symbols": "not in databento/GLBX.MDP3 (raw_symbol, DAY): ES.c.0"}
        status, reply = dash.call("POST", "/api/runs", {**body, "symbol_type": "continuous", "bar_period": "DAY"})
        assert status == 202, reply
        run = dash.wait(reply["key"], ("completed", "failed", "cancelled"))
        assert run["status"] == "completed", run.get("error_text")
        assert run["results"]["bars"] == 12 and run["results"]["symbols"] == ["ES.c.0"]
        assert dict(run["configuration"])["data"] == "databento/GLBX.MDP3, continuous, DAY bars"
