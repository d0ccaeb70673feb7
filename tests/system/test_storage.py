"""The runs database under stress: a run is never reported completed unless every event is in the
runs.db its row lives in; problems at the start are one line and exit 2; problems mid-run fail
the run with the reason; a run row never stays `running` once its orchestrator is gone."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from systemkit import EXERCISER, Background, make_orchestrator, processes_mentioning

from orchestrator.strategies import resolve, with_parameters


def _slow(sleep_ms: str = "5") -> type:
    return with_parameters(resolve(f"{EXERCISER}:Slow"), {"sleep_ms": sleep_ms}, None)


def tickbus(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, timeout=timeout)


@contextmanager
def _locked(db: Path) -> Iterator[None]:
    """Another process holds an exclusive transaction on `db` meanwhile."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, time\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


def _files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def test_a_runs_db_deleted_mid_run_fails_the_run_instead_of_reporting_success(secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run = Background(make_orchestrator(secmaster, db, [_slow()]))
    run.child("Slow")
    for f in _files(db):
        f.unlink(missing_ok=True)
    result = run.wait()
    assert result.status == "failed" and result.failure.kind == "storage", result.failure
    assert "deleted" in result.failure.detail or "could not be written" in result.failure.detail
    assert not db.exists()  # nothing pretends the run lives in a new, empty file
    assert processes_mentioning(str(run.orch.run_dir)) == []


def test_a_runs_db_replaced_mid_run_fails_the_run(secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run = Background(make_orchestrator(secmaster, db, [_slow()]))
    run.child("Slow")
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    for f in _files(db)[1:]:
        f.unlink(missing_ok=True)
    os.replace(other, db)
    result = run.wait()
    assert result.status == "failed" and result.failure.kind == "storage", result.failure


def test_a_runs_db_deleted_during_an_in_process_run_fails_it(secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run = Background(make_orchestrator(secmaster, db, [_slow("2")], in_process=True))
    deadline = time.monotonic() + 30
    while not _recorded_bars(db):  # mid-run: the recorder has written into it
        assert time.monotonic() < deadline and run.thread.is_alive(), "no bar recorded"
        time.sleep(0.02)
    for f in _files(db):
        f.unlink(missing_ok=True)
    result = run.wait()
    assert result.status == "failed" and result.failure.kind == "storage", result.failure


def test_a_runs_db_locked_mid_run_fails_the_run_at_the_storage_bound(secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run = Background(make_orchestrator(secmaster, db, [_slow()], storage_timeout=1.5))
    run.child("Slow")
    with _locked(db):
        locked_at = time.monotonic()
        result = run.wait()
        took = time.monotonic() - locked_at
    assert result.status == "failed" and result.failure.kind == "storage", result.failure
    assert took < 2 * 1.5 + 10, f"took {took:.1f} s"  # the recorder's write, then the outcome's: each bounded
    assert processes_mentioning(str(run.orch.run_dir)) == []


def test_a_sigkilled_orchestrator_leaves_its_run_failed_not_running(secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "run", "--secmaster", str(secmaster),
                             "--runs-db", str(db), "--strategy", f"{EXERCISER}:Slow", "--param", "sleep_ms=20"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = _runs(db)
            if rows and _events(db) > 20:
                break
            time.sleep(0.1)
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _runs(db)[0][1] == "running":
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
    ((run_id, status, error),) = _runs(db)
    assert status == "failed" and f"the orchestrator (pid {proc.pid}) ended before the run did" in error
    listed = tickbus("runs", "list", "--runs-db", str(db))
    assert listed.returncode == 0 and "failed" in listed.stdout


def test_runs_list_and_show_say_when_a_running_run_has_no_orchestrator(secmaster: Path, tmp_path: Path) -> None:
    """The row of an in-process run whose orchestrator was SIGKILLed stays `running` (nobody is
    left to mark it): the tools recognise the orchestrator is gone and say so."""
    db = tmp_path / "runs.db"
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "run", "--secmaster", str(secmaster),
                             "--runs-db", str(db), "--strategy", f"{EXERCISER}:Slow", "--param", "sleep_ms=20",
                             "--in-process"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _runs(db):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait(10)
    ((run_id, status, _),) = _runs(db)
    assert status == "running"
    listed = tickbus("runs", "list", "--runs-db", str(db), "--json")
    (entry,) = json.loads(listed.stdout)
    assert entry["status"] == "abandoned" and entry["orchestrator_gone"]
    shown = tickbus("runs", "show", run_id, "--runs-db", str(db))
    assert "orchestrator (pid" in shown.stdout + shown.stderr and "is gone" in shown.stdout + shown.stderr


def _recorded_bars(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM bars").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or locked
        return 0
    finally:
        conn.close()


def _runs(db: Path) -> list[tuple[str, str, str | None]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=5)
    try:
        return conn.execute("SELECT run_id, status, error FROM runs").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def _events(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM bars_processed").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


# --- problems at the start: one line, exit 2, nothing recorded ----------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (root only: skipped otherwise)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'not root'})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _run_cli(secmaster: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return tickbus("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--strategy", "SMACrossover", "--json")


def test_a_runs_db_on_a_read_only_filesystem_is_one_line_exit_2(secmaster: Path, small_fs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    r = _run_cli(secmaster, small_fs / "runs.db")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "runs.db" in r.stderr and "read-only filesystem" in r.stderr


def test_a_full_filesystem_at_the_start_is_one_line_exit_2(secmaster: Path, small_fs: Path) -> None:
    (small_fs / "filler").write_bytes(b"\0" * (2800 * 1024))
    r = _run_cli(secmaster, small_fs / "runs.db")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "no space left" in r.stderr and not (small_fs / "runs.db").exists()


def test_a_filesystem_filling_up_mid_run_fails_the_run_with_the_reason(secmaster: Path, small_fs: Path) -> None:
    db = small_fs / "runs.db"
    run = Background(make_orchestrator(secmaster, db, [_slow()]))
    run.child("Slow")
    with open(small_fs / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    result = run.wait()
    assert result.status == "failed" and result.failure.kind == "storage", result.failure


def test_a_read_only_runs_db_is_one_line_exit_2(secmaster: Path, tmp_path: Path) -> None:
    """As an unprivileged user (root writes to a 0444 file regardless): skipped if none can be used."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run tickbus as another user")
    folder = Path(tempfile.mkdtemp(prefix="tickbus-ro-"))  # outside pytest's 0700 tree: user nobody reaches it
    try:
        os.chmod(folder, 0o777)
        data = folder / "secmaster.db"
        shutil.copy(secmaster, data)
        os.chmod(data, 0o644)
        db = folder / "runs.db"
        r0 = tickbus("run", "--secmaster", str(data), "--runs-db", str(db), "--strategy", "SMACrossover", "--in-process")
        assert r0.returncode == 0, r0.stderr  # a runs database now
        os.chmod(db, 0o444)
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m",
                            "orchestrator.cli", "run", "--secmaster", str(data), "--runs-db", str(db),
                            "--strategy", "SMACrossover"], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if "Permission denied" in r.stderr and "runs.db" not in r.stderr:
        pytest.skip(f"user nobody cannot run tickbus here: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "read-only" in r.stderr


def test_a_runs_db_locked_at_the_start_is_one_line_exit_2_at_the_storage_bound(secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    r0 = tickbus("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--strategy", "SMACrossover", "--in-process")
    assert r0.returncode == 0
    with _locked(db):
        started = time.monotonic()
        r = tickbus("run", "--secmaster", str(secmaster), "--runs-db", str(db), "--strategy", "SMACrossover",
                    "--storage-timeout", "1")
        took = time.monotonic() - started
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "locked" in r.stderr, r.stderr
    assert took < 20
    assert len(_runs(db)) == 1  # no second run row
