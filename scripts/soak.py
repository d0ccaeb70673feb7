"""Fault soak: N runs of `tickbus run`, each hurt once at a random moment, each checked afterwards.

    python scripts/soak.py --iterations 200 [--seed S] [--kinds kill,stop,term,...] [--workdir DIR] [--json]

Faults (one per run, the victim and the moment drawn from --seed): SIGKILL, SIGSTOP or SIGTERM
of one process of the run (the bus, which hosts the broker, the recorder, a strategy, the
datafeed, or the orchestrator itself), garbage frames sent to the bus by a stranger, a surprise
member that joins and goes quiet, the runs database locked by another process past the run's
storage bound. After each run:

  * the exit status agrees with the run's status (0 completed, 1 failed; a killed orchestrator's
    run is marked failed by its recorder);
  * a failed run names the injected culprit (its failure record: bus/run_contract.py);
  * faults that must not end a run (garbage, a surprise member) did not;
  * no process of the run is left;
  * runs.db passes PRAGMA integrity_check, and the events recorded more than a second before the
    fault are there and readable.

Exit status 0 when every run passed its checks, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from components.sample_data import build_sample_secmaster  # noqa: E402

SLOW = str(HERE / "soak_strategies.py") + ":Slow"
KINDS = ("kill", "stop", "term", "garbage", "joiner", "lock")
VICTIMS = ("bus", "recorder", "Slow", "SMA-Crossover", "datafeed", "orchestrator")
RUN_TIMEOUT_S = 90.0


@dataclass
class Outcome:
    iteration: int
    kind: str
    victim: str
    at_s: float
    exit_code: int | None = None
    status: str | None = None
    culprit: str | None = None
    failure_kind: str | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_processes(root: Path) -> dict[str, int]:
    """name -> pid of the live processes of the run under `root` (its --run-dir names it)."""
    out: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state == "Z" or not any(str(root).encode() in a for a in argv):
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "--name" in args:
            out[args[args.index("--name") + 1]] = int(entry)
        elif "--host-name" in args or "bus" in args:
            out["bus"] = int(entry)
    return out


def leftovers(root: Path) -> list[int]:
    return sorted(run_processes(root).values())


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _garbage(root: Path, rng: random.Random) -> None:
    """A stranger (same user, so it reaches the ipc socket) sends frames that are not messages,
    a bar-like PUBLISH without joining, and random bytes."""
    import msgpack
    import zmq

    from bus.endpoints import Endpoints

    run_dir = next(root.iterdir())
    eps = Endpoints.load(run_dir)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(eps.members)
    bar = msgpack.packb([[0, 0, "SYM000", "MINUTE", 1.0, 1.0, 1.0, 1.0, 1]])
    frames = [[b"BarReceived.feed.", bar], [b"", b"A", b"7"], [b"", b"J"], [os.urandom(rng.randint(1, 64))],
              [b"FillEvent.Slow.", os.urandom(32)], [b"not a topic", b"x"]]
    for _ in range(20):
        sock.send_multipart(rng.choice(frames))
    time.sleep(0.2)
    sock.close()


def _joiner(root: Path) -> subprocess.Popen[bytes]:
    """A member the run did not expect joins and then goes quiet (SIGSTOP)."""
    run_dir = next(root.iterdir())
    code = ("import sys, time\nfrom bus import BusClient\n"
            f"c = BusClient({str(run_dir)!r}, 'surprise')\nc.join(['BarReceived.'])\n"
            "print('joined', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.stdout is not None
    proc.stdout.readline()
    _signal(proc.pid, signal.SIGSTOP)
    return proc


def _locker(db: Path) -> subprocess.Popen[str]:
    code = ("import sqlite3, time\n"
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


def _wait_replay(root: Path, deadline: float) -> bool:
    while time.monotonic() < deadline:
        dirs = [d for d in root.iterdir() if (d / "progress.json").exists()] if root.exists() else []
        if dirs:
            return True
        time.sleep(0.02)
    return False


def one_run(i: int, kind: str, victim: str, at_s: float, secmaster: Path, work: Path) -> Outcome:
    out = Outcome(i, kind, victim, at_s)
    root = work / f"root-{i}"
    root.mkdir(mode=0o700)
    db = work / f"runs-{i}.db"
    env = dict(os.environ, TICKBUS_RUN_ROOT=str(root), PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", "--secmaster", str(secmaster), "--runs-db", str(db),
           "--strategy", SLOW, "--param", "sleep_ms=1", "--strategy", "SMACrossover", "--json",
           "--storage-timeout", "2", "--barrier-timeout", "5"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    helpers: list[subprocess.Popen[Any]] = []
    fault_wall = 0.0
    try:
        if not _wait_replay(root, time.monotonic() + 30):
            out.problems.append("the replay did not start within 30 s")
        else:
            time.sleep(at_s)
            fault_wall = time.time()
            procs = run_processes(root)
            procs["orchestrator"] = proc.pid
            if kind in ("kill", "stop", "term"):
                pid = procs.get(victim)
                if pid is None or proc.poll() is not None:
                    out.problems.append(f"no {victim} to hurt (the run ended first)")
                else:
                    _signal(pid, {"kill": signal.SIGKILL, "stop": signal.SIGSTOP, "term": signal.SIGTERM}[kind])
            elif kind == "garbage":
                _garbage(root, random.Random(i))
            elif kind == "joiner":
                helpers.append(_joiner(root))
            elif kind == "lock":
                helpers.append(_locker(db))
        try:
            stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            out.problems.append(f"tickbus run did not end within {RUN_TIMEOUT_S:g} s")
            _signal(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        out.exit_code = proc.returncode
    finally:
        for h in helpers:
            _signal(h.pid, signal.SIGCONT)
            _signal(h.pid, signal.SIGKILL)
            h.wait()
    out.seconds = time.monotonic() - started
    if out.problems and out.problems[0].startswith("no "):
        return out
    _check(out, stdout, stderr, root, db, fault_wall)
    return out


EXPECTED_EXIT = {"completed": 0, "failed": 1, "cancelled": 130}


def _check(out: Outcome, stdout: str, stderr: str, root: Path, db: Path, fault_wall: float) -> None:
    problems = out.problems
    deadline = time.monotonic() + 10  # children of a killed orchestrator end on their own
    while leftovers(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = leftovers(root)
    if left:
        problems.append(f"processes left behind: {left}")
        for pid in left:
            _signal(pid, signal.SIGCONT)
            _signal(pid, signal.SIGKILL)
    summary: dict[str, Any] = {}
    lines = stdout.strip().splitlines()
    if lines:
        try:
            summary = json.loads(lines[-1])
        except ValueError:
            problems.append(f"no JSON summary: {lines[-1][:200]!r}")
    conn = sqlite3.connect(db, timeout=10)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            problems.append("runs.db failed its integrity check")
        rows = conn.execute("SELECT status, metadata FROM runs").fetchall()
        early = conn.execute("SELECT COUNT(*) FROM bars_processed WHERE ts_created_ns < ?",
                             (int((fault_wall - 1.0) * 1e9),)).fetchone()[0]
    finally:
        conn.close()
    if len(rows) != 1:
        problems.append(f"{len(rows)} run rows")
        return
    status, metadata = rows[0]
    failure = (json.loads(metadata) if metadata else {}).get("failure") or {}
    if out.kind == "lock" and status == "running":
        # the lock outlasted the outcome's write too: the run's own summary says what happened,
        # and `tickbus runs list` shows the row as abandoned once the orchestrator is gone
        status, failure = summary.get("status", status), summary.get("failure") or {}
    out.status, out.culprit, out.failure_kind = status, failure.get("member"), failure.get("kind")
    if status == "running":
        problems.append("the run row stayed 'running'")
    if out.kind == "kill" and out.victim == "orchestrator":
        if out.exit_code != -signal.SIGKILL:
            problems.append(f"the killed orchestrator exited with {out.exit_code}")
        if status != "failed":
            problems.append(f"status {status!r} after the orchestrator was killed")
        return
    if summary.get("status") != status:
        problems.append(f"summary says {summary.get('status')!r}, runs.db {status!r}")
    if out.exit_code != EXPECTED_EXIT.get(status, 1):
        problems.append(f"exit status {out.exit_code} with run status {status!r}")
    if out.kind in ("garbage", "joiner"):
        if status != "completed":
            problems.append(f"a {out.kind} ended the run: {status} ({failure.get('kind')}: {failure.get('detail')})")
        return
    if status == "completed":
        problems.append(f"the run completed despite the {out.kind} of {out.victim}")
        return
    expected = "recorder" if out.kind == "lock" else out.victim
    if out.victim == "orchestrator":  # SIGSTOP/SIGTERM of the orchestrator: it is the run itself
        expected = None
    if out.kind == "term" and out.victim == "orchestrator":
        if status != "cancelled":
            problems.append(f"SIGTERM to the orchestrator gave {status!r}, not 'cancelled'")
        return
    if expected is not None and out.culprit != expected:
        problems.append(f"culprit {out.culprit!r} ({failure.get('kind')}: {failure.get('detail')}), not {expected!r}")
    if early == 0 and out.at_s > 1.5:
        problems.append("nothing recorded more than 1 s before the fault is readable")


def plan(iterations: int, kinds: list[str], rng: random.Random) -> list[tuple[str, str, float]]:
    out = []
    for i in range(iterations):
        kind = kinds[i % len(kinds)]
        victim = rng.choice(VICTIMS if kind in ("kill", "term") else VICTIMS[:-1]) if kind in ("kill", "stop", "term") else "-"
        if kind == "stop" and victim == "datafeed":
            victim = rng.choice(VICTIMS[:-2])  # (a stopped datafeed simply pauses the replay: covered by stalls)
        out.append((kind, victim, round(rng.uniform(0.2, 2.5), 2)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    ap.add_argument("--workdir", help="keep the databases here (default: a temporary folder, removed)")
    ap.add_argument("--json", action="store_true", help="one JSON object per run, then a summary object")
    args = ap.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        ap.error(f"unknown fault kinds: {', '.join(bad)}")
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tickbus-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    secmaster = build_sample_secmaster(work / "secmaster.db", symbols=4, bars=600, seed=3)
    rng = random.Random(args.seed)
    failures: list[Outcome] = []
    show: Callable[[Outcome], None] = (
        (lambda o: print(json.dumps(asdict(o)), flush=True)) if args.json else
        (lambda o: print(f"{o.iteration:4d} {o.kind:7s} {o.victim:14s} at {o.at_s:4.2f} s -> exit {o.exit_code}, "
                         f"{o.status} ({o.failure_kind}: {o.culprit}) {o.seconds:5.1f} s"
                         + ("" if not o.problems else "  PROBLEMS: " + "; ".join(o.problems)), flush=True)))
    try:
        for i, (kind, victim, at_s) in enumerate(plan(args.iterations, kinds, rng)):
            outcome = one_run(i, kind, victim, at_s, secmaster, work)
            show(outcome)
            if outcome.problems and not outcome.problems[0].startswith("no "):
                failures.append(outcome)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    summary = {"iterations": args.iterations, "seed": args.seed, "failed_checks": len(failures),
               "failures": [asdict(f) for f in failures]}
    print(json.dumps(summary) if args.json else f"{args.iterations} runs, {len(failures)} with failed checks")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
