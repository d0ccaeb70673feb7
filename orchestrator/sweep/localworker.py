"""A local sweep worker process (orchestrator/sweep/pool.py): runs the variants the driver sends
over its socket, one at a time, and sends each result back.

    python -m orchestrator.sweep.localworker --fd N
"""

from __future__ import annotations

import argparse
import signal
import sys
from multiprocessing.connection import Connection

from bus.processes import die_with_parent
from orchestrator.sweep.worker import run_variant


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--fd", type=int, required=True)
    args = p.parse_args(argv)
    die_with_parent(signal.SIGTERM)  # a running variant ends cancelled; an idle worker just ends
    conn = Connection(args.fd)
    while True:
        try:
            task, secmaster, strategy = conn.recv()
        except (EOFError, OSError):
            return 0
        result = run_variant(task, secmaster, strategy)
        try:
            conn.send(result)
        except OSError:  # the driver is gone
            return 0


if __name__ == "__main__":
    sys.exit(main())
