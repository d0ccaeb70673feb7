"""Variants on a Dask cluster (`tickbus sweep --scheduler tcp://HOST:PORT`), through Dask
distributed's client: the same submit -> future shape as the local pool.

The shipments (secmaster slice, strategy source) are scattered to every worker once and passed
to each variant as futures, so a worker receives them once (and a worker that joins later gets
them from a peer); it writes them to its host's cache by content hash (shipping.py). Dask
reschedules the variant of a worker that dies (how often: the scheduler's
`distributed.scheduler.allowed-failures`). A task cannot be interrupted, so a cancelled sweep sets
a Dask Event its running variants watch (worker.py): they end their runs cancelled. Run the workers with one thread each
(`dask worker --nthreads 1`, more processes with `--nworkers`): a variant is Python bound.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.sweep.shipping import Shipment

CONNECT_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 2.0
_keys = itertools.count()


class SchedulerLost(Exception):
    """The Dask scheduler went away during the sweep."""


class DaskCluster:
    def __init__(self, address: str, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler needs Dask distributed: pip install 'tickbus[cluster]'") from None
        self.address = address
        for name in ["distributed", *logging.root.manager.loggerDict]:  # a lost scheduler is one line of ours
            if name.startswith("distributed"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {exc}") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            self.close()
            raise UsageError(f"the Dask scheduler at {address} has no workers (none joined within {timeout:g} s)") from None
        self._shipped: dict[str, Any] = {}

    @property
    def size(self) -> int:
        """Worker threads of the cluster now (at least 1)."""
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001 - a lost scheduler is noticed by `check`
            return 1

    def ship(self, shipment: Shipment | None) -> Any:
        """The shipment with its content, scattered to every worker once."""
        if shipment is None:
            return None
        if shipment.digest not in self._shipped:
            self._shipped[shipment.digest] = self.client.scatter(shipment.by_content(), broadcast=True, hash=False)
        return self._shipped[shipment.digest]

    def submit(self, task: dict[str, Any], secmaster: Shipment, strategy: Shipment | None) -> Any:
        from orchestrator.sweep.worker import run_variant

        key = f"tickbus-variant-{task['sweep_id']}-{task['variant']}-{next(_keys)}"
        return self.client.submit(run_variant, task, self.ship(secmaster), self.ship(strategy), key=key, pure=False)

    def result(self, future: Any, variant: int) -> dict[str, Any]:
        """The variant's result; a failed one when its workers died (KilledWorker); SchedulerLost
        when the client lost the future with its scheduler (run_variant never raises: any other
        error is the cluster's)."""
        if future.status == "cancelled":
            self.check()
            raise SchedulerLost(f"the Dask scheduler at {self.address} dropped variant {variant}")
        from distributed.scheduler import KilledWorker

        try:
            return dict(future.result())
        except KilledWorker as exc:  # the variant's workers died (allowed-failures + 1 times)
            return {"variant": variant, "status": "failed", "error": f"its Dask workers died: {exc}"}
        except Exception as exc:  # noqa: BLE001 - run_variant returns its own failures: this is the cluster's
            raise SchedulerLost(f"the Dask scheduler at {self.address} went away ({type(exc).__name__}: {exc})") from None

    def check(self) -> None:
        """SchedulerLost once the client has lost its scheduler."""
        if self.client.status not in ("running", "newly-created"):
            raise SchedulerLost(f"the Dask scheduler at {self.address} went away (client {self.client.status})")

    def _stop_running(self, sweep_id: str) -> None:
        """Set the sweep's cancel Event, waiting at most STOP_TIMEOUT_S (a scheduler that is going
        away would hold the call)."""
        import threading

        from distributed import Event

        from orchestrator.sweep.worker import cancel_event_name

        def tell() -> None:
            try:
                Event(cancel_event_name(sweep_id), client=self.client).set()
            except Exception:  # noqa: BLE001 - the scheduler is gone: the variants go with it
                pass

        t = threading.Thread(target=tell, daemon=True)
        t.start()
        t.join(STOP_TIMEOUT_S)

    def close(self, cancel: bool = False, sweep_id: str | None = None) -> None:
        """Disconnect; with `cancel`, the variants still running are told to stop (worker.py)."""
        if cancel and sweep_id is not None and self.client.status == "running":
            self._stop_running(sweep_id)
        try:
            if cancel:
                self.client.cancel(list(self._shipped.values()), force=True)
            self.client.close(timeout=CONNECT_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - closing a client whose scheduler is gone
            pass
