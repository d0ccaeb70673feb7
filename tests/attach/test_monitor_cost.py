"""A monitor is a passive tap: a SIGSTOPped one (following every message) does not hold a run back:
the replay goes on while it is stopped. (How fast is the benchmarks' business, not a test's.)"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from attachkit import STRATEGIES, Cli, finish, last_json, market_messages, wait_for, wait_live

from bus import ControlClient

STOP_S = 5.0


@pytest.mark.timeout(90)
def test_a_stopped_monitor_does_not_hold_the_run_back(cli: Cli, run_root: Path, long_secmaster: Path, tmp_path: Path) -> None:
    hold = tmp_path / "go"  # the run waits at its first bar until the monitor is there (however slow the machine)
    args = ["run", "--secmaster", str(long_secmaster), "--runs-db", str(tmp_path / "runs.db"), "--json",
            "--strategy", f"{STRATEGIES}:Slow", "--param", "sleep_ms=0", "--param", f"hold_file={hold}",
            "--param", "hold_at=1"]
    run = cli.start(*args)
    info, = wait_live(1)
    monitor = cli.start("monitor", "--follow", "")  # every message, decoded: the heaviest tap there is
    with ControlClient(info.endpoints, timeout=2.0) as ctl:
        wait_for("the monitor's tap", lambda: ctl.stats()["taps"] >= 1)
    os.kill(monitor.pid, signal.SIGSTOP)
    hold.touch()  # the replay goes on from here, the monitor stopped
    stopped_at = time.monotonic()
    early = -1  # bars replayed 1.5 s into the stop: by then a blocking tap would have stalled the run
    while run.poll() is None and time.monotonic() - stopped_at < STOP_S:
        if early < 0 and time.monotonic() - stopped_at > 1.5:
            early = market_messages(info)
        time.sleep(0.02)
    finished_while_stopped = run.poll() is not None
    late = market_messages(info)
    os.kill(monitor.pid, signal.SIGCONT)
    watched = last_json(finish(run, 60)[1])
    assert watched["status"] == "completed", watched["error"]
    assert finished_while_stopped or late > early, "the run waited for a stopped monitor"
    code, _, err = finish(monitor, 15)  # it notices the run ended once it runs again
    assert code == 0, err
