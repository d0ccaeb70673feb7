"""`tickbus run --listen ... --curve`: from "another machine" (no local run directory), attach
and monitor need the run's access key; a wrong key is refused and the bus logs it. 127.0.0.1 only."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import zmq
from attachkit import Cli, config, finish, last_json, processes_mentioning, query, wait_for, wait_live


def _foreign_key(access_key: Path, path: Path) -> Path:
    """The run's key file with another client key pair: right format, wrong key."""
    text = access_key.read_text()
    public, secret = zmq.auth.load_certificate(access_key)
    assert secret is not None
    new_public, new_secret = zmq.curve_keypair()
    path.write_text(text.replace(public.decode(), new_public.decode()).replace(secret.decode(), new_secret.decode()))
    return path


@pytest.mark.timeout(90)
def test_attach_and_monitor_over_curve_need_the_access_key(cli: Cli, run_root: Path, secmaster: Path,
                                                           tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run = cli.start("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--json", "--strategy", "SMACrossover",
                    "--listen", "tcp://127.0.0.1:0", "--curve", "--expect-attach", "1", "--attach-timeout", "30")
    info, = wait_live(1)
    assert info.listen and info.listen.startswith("tcp://127.0.0.1:") and info.access_key
    assert stat.S_IMODE(os.stat(info.access_key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(info.run_dir).st_mode) == 0o700
    key = tmp_path / "copied.key"  # what a colleague on another machine would receive
    shutil.copy(info.access_key, key)
    wrong = _foreign_key(key, tmp_path / "wrong.key")
    elsewhere = {"TICKBUS_RUN_ROOT": str(tmp_path / "elsewhere")}  # no local run dirs there

    no_key = cli.run("attach", info.listen, "--strategy", "RSIMeanReversion", env=elsewhere)
    assert no_key.returncode == 2 and "give --key FILE" in no_key.stderr
    refused = cli.run("attach", info.listen, "--key", str(wrong), "--strategy", "RSIMeanReversion", env=elsewhere)
    assert refused.returncode == 2 and "refused the connection" in refused.stderr, refused.stderr
    refused = cli.run("monitor", info.listen, "--key", str(wrong), "--once", env=elsewhere)
    assert refused.returncode == 2 and "refused the connection" in refused.stderr
    log = wait_for("the refusal in bus.log", lambda: (lambda t: t if "client key not allowed" in t else None)(
        (Path(info.run_dir) / "bus.log").read_text()))
    assert "refused a connection to control" in log

    snap = last_json(cli.run("monitor", info.listen, "--key", str(key), "--once", "--json", env=elsewhere).stdout)
    assert snap["run_id"] == info.run_id and {"broker", "recorder", "SMA-Crossover"} <= set(snap["members"])
    attacher = cli.start("attach", info.listen, "--key", str(key), "--strategy", "RSIMeanReversion", "--json",
                         env=elsewhere)
    code, out, err = finish(attacher)
    assert code == 0, err
    session = last_json(out)
    result = last_json(finish(run)[1])
    assert result["status"] == "completed", result["error"]
    assert session["bars"] == result["bars"] == 1200 and session["left"] == "stopped with the run"
    # an attacher elsewhere cannot write the run's database: the orchestrator recorded it
    entry, = config(db, result["run_id"])["attached"]
    first_ts = query(db, "SELECT MIN(ts_event_ns) FROM bars WHERE run_id = ?", result["run_id"])[0][0]
    assert entry["strategy_id"] == "RSI-Mean-Reversion" and entry["pid"] == attacher.pid
    assert entry["attached_market_ns"] == first_ts and entry["left"] == "stopped with the run"
    fills = query(db, "SELECT COUNT(*) FROM fills WHERE run_id = ? AND strategy_id = 'RSI-Mean-Reversion'",
                  result["run_id"])[0][0]
    assert fills == session["fills"] > 0
    assert processes_mentioning(info.run_dir) == []
