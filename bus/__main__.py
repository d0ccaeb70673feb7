"""`python -m bus --run-dir DIR [--transport ipc|tcp] [--heartbeat-timeout S] [--max-trailing-backlog N]
[--tap-hwm N] [--listen tcp://HOST:PORT] [--key-metadata JSON] [--policy FILE]`

A tcp bus (--transport tcp, or --listen) requires the run's CURVE access key on every endpoint
(bus/security.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import zmq

from bus.errors import BusError
from bus.hosted import Hosted
from bus.policy import Policy
from bus.processes import die_with_parent
from bus.security import ServerSecurity
from bus.server import BusServer


def main(argv: Sequence[str] | None = None, hosted: Sequence[Hosted] = (), prog: str = "python -m bus") -> int:
    """`hosted`: members to run inside this process (bus/hosted.py; components/hosting.py)."""
    ap = argparse.ArgumentParser(prog=prog, description="Run a tickbus bus process.")
    ap.add_argument("--run-dir", required=True, help="private run directory (created 0700)")
    ap.add_argument("--transport", choices=("ipc", "tcp"), default="ipc",
                    help="ipc (the run directory's sockets) or tcp on 127.0.0.1 (CURVE: the run's key)")
    ap.add_argument("--heartbeat-timeout", type=float, default=1.0,
                    help="seconds without a heartbeat before a member is declared lost")
    ap.add_argument("--max-trailing-backlog", type=int, default=10_000,
                    help="trailing pending allowed by waits that exclude trailing members")
    ap.add_argument("--tap-hwm", type=int, default=1000, help="per-tap send high-water mark")
    ap.add_argument("--listen", help="bind members on tcp://HOST:PORT (control, tap: same host, any port); "
                                     "implies tcp")
    ap.add_argument("--key-metadata", help="JSON object of strings written into access.key (tcp)")
    ap.add_argument("--policy", metavar="FILE", help="the run's policy: who is critical, who may publish "
                                                     "what (bus/policy.py); without it, no rules")
    args = ap.parse_args(argv)
    die_with_parent()  # SIGTERM (a clean shutdown) when the process that started the bus dies
    try:
        tcp = args.listen is not None or args.transport == "tcp"
        security = ServerSecurity(args.listen, json.loads(args.key_metadata or "{}")) if tcp else None
        policy = Policy.load(args.policy) if args.policy else None
        server = BusServer(
            args.run_dir, transport="tcp" if tcp else args.transport,
            heartbeat_timeout=args.heartbeat_timeout, max_trailing_backlog=args.max_trailing_backlog,
            tap_hwm=args.tap_hwm, security=security, policy=policy,
        )
        for h in hosted:
            server.host(h)
        server.run()
    except (BusError, ValueError, OSError, zmq.ZMQError) as exc:  # e.g. --listen address in use
        print(f"tickbus-bus: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
