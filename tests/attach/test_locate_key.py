"""`--key FILE` is the key used, also when the run is a live run of this machine: a key of
another run is refused at once, naming the run; an alien client key reaches the bus and is
refused there. Real bus processes in a private run root."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from bus import BusError, ControlClient, start_bus_process
from bus.security import ACCESS_KEY_FILE, bus_args, check_access, read_access_key
from orchestrator import rundir
from orchestrator.errors import UsageError
from orchestrator.locate import locate


@pytest.fixture
def live(run_root: Path) -> Iterator[dict[str, Path]]:
    """Two live tcp runs (r1, r2) and one ipc run (r3) of this machine, as `tickbus run` leaves them."""
    procs, dirs = [], {}
    try:
        for run_id, transport in (("r1", "tcp"), ("r2", "tcp"), ("r3", "ipc")):
            run_dir = rundir.create_run_dir()
            proc, eps = start_bus_process(run_dir, transport=transport, timeout=20.0,
                                          extra_args=bus_args(None, {"run-id": run_id}) if transport == "tcp" else [])
            procs.append((proc, eps))
            rundir.write_run_info(rundir.new_run_info(run_dir, run_id=run_id, runs_db="unused.db",
                                                      endpoints=str(run_dir / "endpoints.json")))
            dirs[run_id] = run_dir
        yield dirs
    finally:
        for proc, eps in procs:
            try:
                with ControlClient(eps, timeout=2.0) as ctl:
                    ctl.shutdown()
                proc.wait(10)
            except Exception:  # noqa: BLE001 - cleanup goes on
                proc.kill()
                proc.wait(10)


@pytest.mark.timeout(60)
def test_the_key_given_is_the_key_used(live: dict[str, Path], tmp_path: Path) -> None:
    own = tmp_path / "r1.key"
    shutil.copy(live["r1"] / ACCESS_KEY_FILE, own)
    other = live["r2"] / ACCESS_KEY_FILE
    members = locate("r1").endpoints.members
    for run in ("r1", members, str(live["r1"])):
        with pytest.raises(UsageError, match=r"is not the access key of run r1 \(another run's key\?\)"):
            locate(run, str(other))
        target = locate(run, str(own))
        assert target.endpoints.curve_key_file == str(own.absolute()) and target.info is not None
        assert check_access(target.endpoints) == target.endpoints.pid
    with pytest.raises(UsageError, match="run r3 takes no key"):
        locate("r3", str(own))
    # the right server key with a client key the bus never issued: used, and refused by the bus
    ours = read_access_key(own)
    public, secret = zmq.curve_keypair()
    alien = tmp_path / "alien.key"
    alien.write_text(own.read_text().replace(ours.public.decode(), public.decode()).replace(ours.secret.decode(), secret.decode()))
    target = locate(members, str(alien))
    assert target.endpoints.curve_key_file == str(alien.absolute())
    with pytest.raises(BusError, match="client key not allowed"):
        check_access(target.endpoints, timeout=3.0)
