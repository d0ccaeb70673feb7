"""Local workers (`tickbus sweep --workers N`): N worker processes with only the core
dependencies, behind the shape of concurrent.futures (submit -> Future), like the Dask client.

Each worker is `python -m orchestrator.sweep.localworker` in its own session (a Ctrl-C at the
terminal reaches the driver only, which then stops them) with a parent-death signal (no worker
outlives the driver), fed one variant at a time over a socket. Unlike a ProcessPoolExecutor,
whose every pending future fails when one worker dies, the pool knows which variant each
worker holds: a worker that dies has its variant run once more on another (a fresh) worker,
and a variant whose second worker dies too fails, saying so. The others go on.
"""

from __future__ import annotations

import collections
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from orchestrator import processes

ATTEMPTS = 2  # a variant is retried once after its worker died
STOP_TIMEOUT_S = 5.0


class WorkerDied(Exception):
    """The variant's worker process died (twice: it was retried once)."""


@dataclass
class _Job:
    args: tuple[Any, ...]
    future: Future[Any]
    attempts: int = 0
    deaths: list[str] = field(default_factory=list)


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: Connection
    job: _Job | None = None


class LocalPool:
    def __init__(self, workers: int) -> None:
        self.size = workers
        self._queue: collections.deque[_Job] = collections.deque()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._closing = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._stillborn = 0  # workers that died before finishing anything, in a row
        for _ in range(workers):
            self._workers.append(self._spawn())
        self._thread = threading.Thread(target=self._manage, name="tickbus-sweep-pool", daemon=True)
        self._thread.start()

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.sweep.localworker", "--fd", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            env=processes.child_env(), start_new_session=True,
        )
        theirs.close()
        return _Worker(proc, Connection(ours.detach()))

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    @property
    def busy(self) -> list[int]:
        """Pids of the workers running a variant now."""
        with self._lock:
            return [w.proc.pid for w in self._workers if w.job is not None]

    def submit(self, *args: Any) -> Future[Any]:
        """Run `run_variant(*args)` on a worker."""
        future: Future[Any] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("the pool is closed")
            self._queue.append(_Job(args, future))
        self._wake_w.send(b"x")
        return future

    def result(self, future: Future[Any], variant: int) -> dict[str, Any]:
        """The variant's result, or a failed one saying why it has none (its workers died)."""
        try:
            return dict(future.result())
        except WorkerDied as exc:
            return {"variant": variant, "status": "failed", "error": f"its worker died: {exc}"}

    # --- the manager thread ---------------------------------------------------------------------

    def _manage(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not leave the driver waiting forever
            with self._lock:
                self._closing = True
                jobs = [*self._queue, *(w.job for w in self._workers if w.job is not None)]
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(WorkerDied(f"the pool failed: {type(exc).__name__}: {exc}"))
            raise

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
                for w in self._workers:
                    if w.job is None and self._queue:
                        job = self._queue.popleft()
                        if job.attempts == 0 and not job.future.set_running_or_notify_cancel():
                            continue  # cancelled while queued
                        w.job = job
                        job.attempts += 1
                        try:
                            w.conn.send(job.args)
                        except OSError:
                            pass  # it died: seen below
                conns = {w.conn: w for w in self._workers}
            ready = wait([*conns, self._wake_r], timeout=0.5)
            if self._wake_r in ready:
                self._wake_r.recv(4096)
            for conn in ready:
                worker = conns.get(conn)  # type: ignore[call-overload]
                if worker is not None:
                    self._receive(worker)

    def _receive(self, worker: _Worker) -> None:
        try:
            result = worker.conn.recv()
        except (EOFError, OSError):
            self._died(worker)
            return
        self._stillborn = 0
        job, worker.job = worker.job, None
        if job is not None:
            job.future.set_result(result)

    def _died(self, worker: _Worker) -> None:
        try:
            code = worker.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            code = worker.proc.wait()
        worker.conn.close()
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        with self._lock:
            if self._closing:
                return
            self._workers.remove(worker)
            job = worker.job
            if job is not None:
                job.deaths.append(f"worker pid {worker.proc.pid} {how}")
                if job.attempts < ATTEMPTS:
                    self._queue.appendleft(job)
                else:
                    job.future.set_exception(WorkerDied("; then ".join(job.deaths)))
            self._stillborn += 1
            if self._stillborn > 2 * self.size:  # workers that cannot even start: fail what waits
                while self._queue:
                    self._queue.popleft().future.set_exception(WorkerDied(f"workers keep dying at start ({how})"))
                return
            self._workers.append(self._spawn())

    # --- stopping ---------------------------------------------------------------------------------

    def close(self, cancel: bool = False, sweep_id: str | None = None) -> None:
        """Stop every worker (SIGTERM: a running variant ends cancelled; then SIGKILL), bounded;
        queued variants are cancelled."""
        with self._lock:
            self._closing = True
            while self._queue:
                self._queue.popleft().future.cancel()
            workers = list(self._workers)
        self._wake_w.send(b"x")
        self._thread.join(STOP_TIMEOUT_S)
        for w in workers:
            w.conn.close()  # an idle worker sees the end of its input and exits
            if cancel and w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(timeout=STOP_TIMEOUT_S)
            if w.job is not None and not w.job.future.done():
                w.job.future.set_exception(WorkerDied("stopped with the sweep"))
        self._wake_r.close()
        self._wake_w.close()
