"""`tickbus attach`: attached strategies behave like launched ones, join at timestamp boundaries,
detach gracefully, and the loss of an expected one fails the run (one that asked for drop, or
that the run did not expect, is dropped and recorded). Real processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from attachkit import (STRATEGIES, Cli, config, finish, last_json, market_messages, members, processes_mentioning, query,
                       wait_for, wait_live)

FILL_COLUMNS = "ts_event_ns, symbol, side, quantity_filled, fill_price, commission, associated_order_id, fill_id"


def _fills(db: Path, run_id: str, sid: str) -> list[tuple[object, ...]]:
    return query(db, f"SELECT {FILL_COLUMNS} FROM fills WHERE run_id = ? AND strategy_id = ? "
                     "ORDER BY ts_event_ns, associated_order_id", run_id, sid)


@pytest.mark.timeout(90)
def test_expect_attach_records_the_same_fills_as_a_direct_run(cli: Cli, run_root: Path, secmaster: Path,
                                                                 tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    common = ["run", "--secmaster", str(secmaster), "--runs-db", str(db), "--json"]
    waiting = cli.start(*common, "--strategy", "SMACrossover", "--expect-attach", "1", "--attach-timeout", "30")
    other = cli.start(*common, "--strategy", "SMACrossover", "--expect-attach", "1", "--attach-timeout", "30")
    # two live runs (neither can end by itself): without a run id, attach lists them and exits 2
    runs = wait_live(2, runs=[waiting, other])
    ambiguous = cli.run("attach", "--strategy", "RSIMeanReversion")
    assert ambiguous.returncode == 2, ambiguous.stderr
    assert "several live runs" in ambiguous.stderr and all(r.run_id in ambiguous.stderr for r in runs[:2])
    ps = cli.run("ps")
    assert ps.returncode == 0 and all(r.run_id in ps.stdout for r in runs[:2])
    other.send_signal(signal.SIGTERM)
    assert last_json(finish(other)[1])["status"] == "cancelled"
    target = next(r for r in runs if r.pid == waiting.pid)
    direct = cli.start(*common, "--strategy", "SMACrossover", "--strategy", "RSIMeanReversion",
                       "--expect-attach", "0")
    assert target.symbols == ["SYM000", "SYM001", "SYM002", "SYM003"]
    outside = cli.run("attach", target.run_id, "--strategy", "RSIMeanReversion", "--symbols", "SYM000,NOPE")
    assert outside.returncode == 2 and "NOPE not in run" in outside.stderr and outside.stderr.count("\n") == 1
    assert market_messages(target) == 0  # still waiting for its attacher

    code, out, err = finish(cli.start("attach", target.run_id, "--strategy", "RSIMeanReversion", "--json"))
    assert code == 0, err
    session = last_json(out)
    a, b = last_json(finish(waiting)[1]), last_json(finish(direct)[1])
    assert a["status"] == b["status"] == "completed", (a["error"], b["error"])
    assert session["strategy_id"] == "RSI-Mean-Reversion" and session["left"] == "stopped with the run"
    assert session["bars"] == a["bars"] == 1200  # from the very first timestamp
    fills = _fills(db, a["run_id"], "RSI-Mean-Reversion")
    assert len(fills) > 10 and fills == _fills(db, b["run_id"], "RSI-Mean-Reversion")
    assert session["fills"] == len(fills)
    entry, = config(db, a["run_id"])["attached"]
    first_ts = query(db, "SELECT MIN(ts_event_ns) FROM bars WHERE run_id = ?", a["run_id"])[0][0]
    assert entry["strategy_id"] == "RSI-Mean-Reversion" and entry["attached_market_ns"] == first_ts
    assert entry["attached_at"].endswith("Z") and entry["left"] == "stopped with the run" and entry["on_loss"] == "fail"
    assert processes_mentioning(target.run_dir) == [] and not Path(target.run_dir).exists()


@pytest.mark.timeout(90)
def test_mid_run_attach_detach_and_a_dropped_loss(cli: Cli, run_root: Path, secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    hold = tmp_path / "go-on"  # the run waits at Slow's 200th bar until the attachers joined
    run = cli.start("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--json",
                    "--strategy", f"{STRATEGIES}:Slow", "--param", "sleep_ms=3", "--param", f"hold_file={hold}",
                    "--param", "hold_at=200",
                    "--strategy", "SMACrossover", "--param", "fast_period=5", "--param", "slow_period=10")
    info, = wait_live(1)
    wait_for("the replay to start", lambda: market_messages(info) > 0)
    follow = cli.start("monitor", "--follow", "FillEvent")
    stays = cli.start("attach", "--strategy", "SMACrossover", "--param", "fast_period=6", "--param", "slow_period=12", "--json")
    leaves = cli.start("attach", "--strategy", "RSIMeanReversion", "--json")
    dies = cli.start("attach", info.run_id, "--strategy", "SMACrossover", "--json")  # asks to fail the run if lost
    joined = wait_for("three attached strategies", lambda: (lambda m: m if len(m) == 8 else None)(members(info)))
    assert {"SMA-Crossover-2", "SMA-Crossover-3", "RSI-Mean-Reversion"} <= set(joined)  # unique ids
    dropped = next(n for n, m in joined.items() if m["pid"] == dies.pid)
    # the run expects no attacher: each is a surprise joiner, whose loss can never fail the run
    attachers = {"SMA-Crossover-2", "SMA-Crossover-3", "RSI-Mean-Reversion"}
    assert all(joined[n]["admission"] == "surprise" and not joined[n]["critical"] for n in attachers)
    snap = last_json(cli.run("monitor", "--once", "--json").stdout)
    assert set(snap["members"]) == set(joined) and snap["run_id"] == info.run_id
    assert snap["topics"]["BarReceived.feed."]["messages"] > 0 and snap["rates"]["messages_per_s"] > 0
    assert "+RSI-Mean-Reversion" in cli.run("ps").stdout
    # the datafeed runs up to a window ahead of the slowest strategy: bars reach the new members
    # from its next timestamp on
    hold.touch()
    wait_for("bars for the attached strategies", lambda: all(
        m.get("delivered", 0) > 0 and m.get("acknowledged", 0) > 0 for n, m in members(info).items() if n in ("RSI-Mean-Reversion", dropped)) or None)
    leaves.send_signal(signal.SIGINT)
    os.kill(dies.pid, signal.SIGKILL)
    code, out, err = finish(leaves)
    assert code == 0, err
    left = last_json(out)
    assert left["left"] == "detached" and left["bars"] > 0

    result = last_json(finish(run, 60)[1])
    assert result["status"] == "completed", result["error"]
    code, out, err = finish(stays)
    assert code == 0, err
    stayed = last_json(out)
    assert stayed["left"] == "stopped with the run"
    sid, run_id = stayed["strategy_id"], result["run_id"]
    # the first bar it saw was a whole timestamp, and it lost nothing from then on
    seen = query(db, "SELECT ts_event_ns, COUNT(*) FROM bars_processed WHERE run_id = ? AND strategy_id = ? "
                     "GROUP BY ts_event_ns ORDER BY ts_event_ns", run_id, sid)
    run_ts = query(db, "SELECT ts_event_ns, COUNT(*) FROM bars WHERE run_id = ? GROUP BY ts_event_ns "
                       "ORDER BY ts_event_ns", run_id)
    first = seen[0][0]
    assert first > run_ts[0][0], "it attached mid-run"
    assert seen == [row for row in run_ts if row[0] >= first] and seen[0][1] == 4
    assert stayed["bars"] == sum(n for _, n in seen) and stayed["first_bar_ns"] == first
    answered = query(db, "SELECT (SELECT COUNT(*) FROM order_submissions WHERE run_id = ?1 AND strategy_id = ?2), "
                         "(SELECT COUNT(*) FROM orders_accepted WHERE run_id = ?1 AND strategy_id = ?2) + "
                         "(SELECT COUNT(*) FROM orders_rejected WHERE run_id = ?1 AND strategy_id = ?2)", run_id, sid)[0]
    assert answered[0] > 0 and answered[0] == answered[1]
    entries = {e["strategy_id"]: e for e in config(db, run_id)["attached"]}
    assert entries[sid]["attached_market_ns"] == first and entries[sid]["left"] == "stopped with the run"
    assert entries["RSI-Mean-Reversion"]["left"] == "detached"
    # (a strategy with nothing working runs ahead to the datafeed's window: it may have seen the
    # last bar already, though the run goes on for the slow one)
    assert entries["RSI-Mean-Reversion"]["left_market_ns"] == left["last_bar_ns"] <= run_ts[-1][0]
    lost = next(e for e in entries.values() if e["pid"] == dies.pid)
    assert lost["left"].startswith("lost: ") and lost["on_loss"] == "drop" and lost["left_at"]
    # the monitor printed fills as they passed and left by itself when the run ended
    code, out, err = finish(follow)
    assert code == 0, err
    lines = [line for line in out.splitlines() if " FillEvent." in line]
    assert lines and all("side=" in line and "fill_price=" in line for line in lines)
    assert processes_mentioning(info.run_dir) == [] and dies.wait() == -signal.SIGKILL


@pytest.mark.timeout(60)
def test_a_killed_attacher_fails_the_run_naming_it(cli: Cli, run_root: Path, secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    hold = tmp_path / "go-on"  # the run waits at Slow's 100th bar until the attacher is killed
    run = cli.start("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--json",
                    "--strategy", f"{STRATEGIES}:Slow", "--param", "sleep_ms=3", "--param", f"hold_file={hold}",
                    "--expect-attach", "1", "--attach-timeout", "30")  # an expected attacher: critical
    info, = wait_live(1)
    attacher = cli.start("attach", "--strategy", "RSIMeanReversion")
    wait_for("the attacher to join", lambda: "RSI-Mean-Reversion" in members(info))
    assert members(info)["RSI-Mean-Reversion"]["critical"]
    wait_for("the replay to start", lambda: market_messages(info) > 0)
    os.kill(attacher.pid, signal.SIGKILL)
    started = time.monotonic()
    hold.touch()
    result = last_json(finish(run, 30)[1])
    assert time.monotonic() - started < 15
    assert result["status"] == "failed"
    assert (result["failure"]["kind"], result["failure"]["member"]) == ("lost", "RSI-Mean-Reversion"), result
    assert 0 < result["bars"] < 1200
    status, error = query(db, "SELECT status, error FROM runs WHERE run_id = ?", result["run_id"])[0]
    assert status == "failed" and "RSI-Mean-Reversion" in error
    entry, = config(db, result["run_id"])["attached"]
    assert entry["left"].startswith("lost: ") and entry["attached_at"]
    assert processes_mentioning(info.run_dir) == []


@pytest.mark.timeout(30)
def test_expected_attachers_that_never_come_fail_the_run_in_bounded_time(cli: Cli, run_root: Path, secmaster: Path,
                                                                          tmp_path: Path) -> None:
    result = cli.run("run", "--secmaster", str(secmaster), "--runs-db", str(tmp_path / "runs.db"), "--json",
                     "--strategy", "SMACrossover", "--expect-attach", "1", "--attach-timeout", "1")
    summary = last_json(result.stdout)
    assert result.returncode == 1 and summary["status"] == "failed" and summary["bars"] == 0
    assert "0 of 1 expected attached strategies joined within 1 s" in summary["error"]
    assert cli.run("ps").stdout.strip() == "no live runs"
