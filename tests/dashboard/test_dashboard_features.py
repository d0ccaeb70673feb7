"""The seed's dashboard features over the HTTP API of a real server: presets, deletion, the
Performance view, chart segments and display settings; and what a page says about a run."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from typing import Any

import pytest

from dashkit import FINAL, Dashboard
from recorder import runsdb
from recorder.tables import TABLES

SMA = "components.examples.sma_crossover:SMACrossover"
RSI = "components.examples.rsi_mean_reversion:RSIMeanReversion"


def launch(dash: Dashboard, strategies: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {"strategies": strategies, "dataset": "tickbus/SAMPLE", "symbols": ["SYM000", "SYM001"], **extra}
    status, reply = dash.call("POST", "/api/runs", body)
    assert status == 202, reply
    return reply  # type: ignore[no-any-return]


def finished(dash: Dashboard, strategies: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    run = dash.wait(launch(dash, strategies, **extra)["key"], FINAL)
    assert run["status"] == "completed", run.get("error_text")
    return run


@pytest.fixture(scope="module")
def run(dashboard: Dashboard) -> dict[str, Any]:
    """SMA crossover and RSI mean reversion on two symbols, with a commission."""
    return finished(dashboard, [{"key": SMA, "params": {"fast_period": "5", "slow_period": "20"}}, {"key": RSI, "params": {}}],
                    commission_per_unit="0.01")


def rows(dash: Dashboard, run_id: str) -> int:
    with sqlite3.connect(dash.runs_db) as conn:
        return sum(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE run_id = ?", (run_id,)).fetchone()[0] for t in ["runs", *TABLES.values()])


def test_symbol_presets_live_in_the_seeds_table(dashboard: Dashboard) -> None:
    preset = {"name": "pair", "publisher_name": "tickbus", "publisher_id": 1, "rtype": 33, "symbol_type": "raw_symbol",
              "symbols": ["SYM001"]}
    status, body = dashboard.call("POST", "/api/presets", preset)
    assert status == 200 and body["preset"] == preset
    assert dashboard.get("/api/presets")["presets"] == [preset]
    with sqlite3.connect(dashboard.runs_db.with_name("presets.db")) as conn:  # the seed's columns, as the seed writes them
        assert conn.execute("SELECT name, rtype, publisher_name, publisher_id, symbols, symbol_type FROM symbol_presets").fetchall() == [
            ("pair", 33, "tickbus", 1, '["SYM001"]', "raw_symbol")]
    status, body = dashboard.call("POST", "/api/presets", {**preset, "symbols": []})
    assert status == 422 and body["error"] == "symbols: choose at least one symbol"
    assert dashboard.call("DELETE", "/api/presets/pair", {})[0] == 200
    status, body = dashboard.call("DELETE", "/api/presets/pair", {})
    assert status == 404 and body["error"] == "no preset 'pair'"


def test_performance_per_round_trip(dashboard: Dashboard, run: dict[str, Any]) -> None:
    perf = dashboard.get(f"/api/runs/{run['run_id']}/performance")
    trips, s = perf["trips"], perf["summary"]
    assert len(trips) == s["trips"] == run["results"]["round_trips_total"] > 5
    assert perf["cumulative_net"][-1] == pytest.approx(sum(t["net"] for t in trips)) == pytest.approx(s["net"])
    assert all(t["best"] >= max(t["gross"], 0) and t["worst"] <= min(t["gross"], 0) and t["drawdown"] >= 0 for t in trips)
    assert [t["exit_time"] for t in trips] == sorted(t["exit_time"] for t in trips)
    winners = [t["net"] for t in trips if t["net"] > 0]
    assert s["winners"] == len(winners) and s["avg_winner"] == pytest.approx(sum(winners) / len(winners))
    one = dashboard.get(f"/api/runs/{run['run_id']}/performance?symbol=SYM001")
    assert {t["symbol"] for t in one["trips"]} == {"SYM001"} and 0 < len(one["trips"]) < len(trips)


def test_chart_segments_every_way(dashboard: Dashboard, run: dict[str, Any]) -> None:
    url = f"/api/runs/{run['run_id']}/segments?symbol=SYM000"
    whole = dashboard.get(url)
    assert [s["bars"] for s in whole["segments"]] == [200]
    assert {"close", "SMA-Crossover|SMA_5_CLOSE", "RSI-Mean-Reversion|RSI_14_CLOSE"} <= set(whole["fields"])
    assert whole["fields"]["SMA-Crossover|SMA_5_CLOSE"] == "SMA-Crossover: SMA_5_CLOSE"
    bars = dashboard.get(url + "&mode=bars&size=60&overlap=10")["segments"]
    assert [s["bars"] for s in bars] == [60, 60, 60, 50]
    assert dashboard.get(url + "&mode=time&period=hour")["total"] == 4  # 12:00 .. 15:19
    trips = dashboard.get(f"/api/runs/{run['run_id']}/performance?symbol=SYM000")["trips"]
    by_trade = dashboard.get(url + "&mode=trades&padding=5")["segments"]
    assert len(by_trade) == len(trips) and all(s["mark"] and s["trade"] is not None for s in by_trade)
    cond = dashboard.get(url + "&mode=condition&left=close&op=%3E&right=SMA-Crossover%7CSMA_20_CLOSE&gap=2&context=3")["segments"]
    assert cond and all(s["mark"] for s in cond)
    rsi = dashboard.get(url + "&mode=condition&left=RSI-Mean-Reversion%7CRSI_14_CLOSE&op=%3C&right=30&context=0")["segments"]
    assert all(s["bars"] == (s["mark"][1] - s["mark"][0]) // 60 + 1 for s in rsi)  # no context: the mark is the segment

    status, body = dashboard.call("GET", url + "&mode=condition&left=close&op=%3E&right=NOPE")
    assert status == 422 and "no field 'NOPE'" in body["error"]
    status, body = dashboard.call("GET", url + "&mode=bars&size=10&overlap=10")
    assert status == 422 and "overlap" in body["error"]

    seg = by_trade[0]
    price = dashboard.get(f"/api/runs/{run['run_id']}/price?symbol=SYM000&start={seg['start_ns']}&end={seg['end_ns']}&trade={seg['trade']}")
    assert len(price["bars"]) == seg["bars"]
    pnl = price["pnl"]
    assert pnl["points"] and pnl["best"] >= max(p["value"] for p in pnl["points"][:-1]) - 1e-9
    assert pnl["exit"] == pytest.approx(pnl["points"][-1]["value"])


def test_display_settings_are_saved_per_strategy_set(dashboard: Dashboard, run: dict[str, Any]) -> None:
    url = f"/api/runs/{run['run_id']}/chart-settings"
    got = dashboard.get(url)
    assert got["strategy_set"] == "RSI-Mean-Reversion,SMA-Crossover"
    settings = {"chart_type": "ohlc", "indicators": {"RSI-Mean-Reversion|RSI_14_CLOSE": {
        "panel": 2, "below_price": False, "style": "histogram", "color": "purple", "width": "thick", "visible": True}},
        "fill_between": [{"upper": "SMA-Crossover|SMA_5_CLOSE", "lower": "SMA-Crossover|SMA_20_CLOSE", "color": "green", "alpha": 0.2}]}
    status, body = dashboard.call("PUT", url, settings)
    assert status == 200 and body["settings"] == settings
    status, body = dashboard.call("PUT", url, {**settings, "chart_type": "renko"})
    assert status == 422 and body["error"] == "chart_type: 'renko' is not one of candlestick, ohlc, line"
    bad = {"indicators": {"x": {"color": "chartreuse"}}}
    status, body = dashboard.call("PUT", url, bad)
    assert status == 422 and body["error"].startswith("indicators['x'].color: 'chartreuse'")
    assert dashboard.get(url)["settings"] == settings
    with sqlite3.connect(dashboard.runs_db.with_name("presets.db")) as conn:
        [(text,)] = conn.execute("SELECT config FROM chart_settings WHERE strategy_set = ?", (got["strategy_set"],)).fetchall()
    assert json.loads(text) == settings


def test_one_name_per_strategy_and_component(dashboard: Dashboard, run: dict[str, Any]) -> None:
    ids = ["SMA-Crossover", "RSI-Mean-Reversion"]
    listed = {r["key"]: r for r in dashboard.get("/api/runs")["runs"]}
    assert listed[run["run_id"]]["strategies"] == ids == run["strategies"]
    assert run["results"]["stats"]["header"] == ["", "total", *ids]
    price = dashboard.get(f"/api/runs/{run['run_id']}/price?symbol=SYM000")
    assert {i["label"].split(": ")[0] for i in price["indicators"]} == set(ids)
    config = dict(run["configuration"])
    assert config["broker"] == "SimulatedBroker (commission 0.01 per unit)"
    assert config["strategy SMA-Crossover"].startswith("SMACrossover (bar_period MINUTE, fast_period 5, slow_period 20")
    assert config["data"] == "tickbus/SAMPLE, raw_symbol, MINUTE bars"
    assert "_Configured" not in json.dumps(run["configuration"])
    queued = launch(dashboard, [{"key": SMA, "params": {}}, {"key": SMA, "params": {"fast_period": "6"}}])
    status, entry = dashboard.call("GET", f"/api/runs/{queued['key']}")
    assert entry["strategies"] == ["SMA-Crossover", "SMA-Crossover-2"]  # in the queue already the ids it records under
    dashboard.wait(queued["key"], FINAL)


def test_deleting_runs(dashboard: Dashboard) -> None:
    done = finished(dashboard, [{"key": SMA, "params": {}}])
    assert rows(dashboard, done["run_id"]) > 400
    status, body = dashboard.call("DELETE", "/api/runs", {"run_ids": [done["run_id"], "no-such-run"]})
    assert status == 200 and body["deleted"] == [done["run_id"]] and body["refused"] == {"no-such-run": "no such run"}
    assert rows(dashboard, done["run_id"]) == 0
    assert done["run_id"] not in {r["key"] for r in dashboard.get("/api/runs")["runs"]}

    slow = launch(dashboard, [{"key": dashboard.knobs_key(), "params": {"delay_ms": "15"}}])
    running = dashboard.wait(slow["key"], ("running",), timeout=30)
    deadline = time.monotonic() + 20
    while not running.get("run_id"):
        assert time.monotonic() < deadline
        running = dashboard.get(f"/api/runs/{slow['key']}")
    status, body = dashboard.call("DELETE", "/api/runs", {"run_ids": [slow["key"]]})
    assert status == 200 and body["pending"] == [slow["key"]]  # cancelled now, deleted once it has stopped
    deadline = time.monotonic() + 45
    while dashboard.call("GET", f"/api/runs/{slow['key']}")[0] != 404 or rows(dashboard, running["run_id"]):
        assert time.monotonic() < deadline, "the deleted run is still there"
        time.sleep(0.2)

    conn = runsdb.connect(dashboard.runs_db)  # a run going on elsewhere (its orchestrator: this process)
    other = runsdb.create_run(conn, ["Elsewhere"], {"strategies": ["Elsewhere"]}, {"orchestrator_pid": os.getpid(), "host": platform.node()})
    conn.close()
    try:
        status, body = dashboard.call("DELETE", "/api/runs", {"run_ids": [other]})
        assert status == 200 and body["deleted"] == [] and "still running" in body["refused"][other]
        assert dashboard.call("DELETE", "/api/runs", {"run_ids": "all"})[0] == 400
    finally:
        conn = runsdb.connect(dashboard.runs_db)
        runsdb.delete_runs(conn, [other])
        conn.close()


def test_what_the_pages_say_about_a_run(dashboard: Dashboard) -> None:
    slow = launch(dashboard, [{"key": dashboard.knobs_key(), "params": {"delay_ms": "20"}}])
    seen = []
    deadline = time.monotonic() + 30
    while True:  # from the first moment on, this dashboard's own run never says "not started by this dashboard"
        entry = dashboard.get(f"/api/runs/{slow['key']}")
        seen.append(entry)
        if entry["status"] == "running" and entry.get("progress"):
            break
        assert time.monotonic() < deadline, entry
        time.sleep(0.05)
    assert not any("recorded_bars" in e for e in seen)
    status, page = dashboard.call("GET", f"/runs/{slow['key']}")
    assert "starting: its processes are joining the bus" in page and "not started by this dashboard" not in page
    assert dashboard.call("POST", f"/api/runs/{slow['key']}/cancel")[0] == 202
    done = dashboard.wait(slow["key"], FINAL, timeout=45)
    status, page = dashboard.call("GET", f"/runs/{done['run_id']}")
    assert done["status"] == "cancelled" and "<h2>Cancelled</h2>" in page and "<h2>Error</h2>" not in page
    status, body = dashboard.call("POST", f"/api/runs/{slow['key']}/cancel")
    assert status == 409 and body["error"] == "too late to cancel: the run has already ended (cancelled)"

    strategies = dashboard.get("/api/strategies")
    [problem] = strategies["problems"]
    assert problem["file"].endswith("broken.py") and "broken.py" not in problem["error"]  # the path once, not twice
    status, page = dashboard.call("GET", "/new")
    assert page.count("broken.py") == 1
    assert '<span class="name" title="parameter fast_period">Fast period</span>' in page
