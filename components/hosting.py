"""A component hosted by the bus process (bus/hosted.py): the broker, with `--broker-in-bus`.

    python -m components.hosting --host-name NAME --host-spec JSON <python -m bus arguments>

The component is built from its spec and driven exactly as components.runtime drives one in its
own process (same `handle`: decode, dispatch, publish by topic, acknowledge), only its deliveries
arrive as calls from the bus loop instead of ZeroMQ messages.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bus.api import MemberLink
from bus.run_contract import EXIT_FAILED
from components.component import Component
from components.runtime import exception_record, handle, instantiate, leave_failure, publish_outbox


class HostedComponent:
    """Adapts a Component to bus.hosted.Hosted."""

    def __init__(self, name: str, component: Component) -> None:
        self.name = name
        self.component = component

    def prefixes(self) -> list[str]:
        return list(self.component.subscriptions())

    def start(self, link: MemberLink) -> None:
        self.component.start()
        publish_outbox(link, self.component)

    def handle(self, messages: list[tuple[str, bytes]], link: MemberLink) -> None:
        handle(self.component, link, messages)

    def tick(self, link: MemberLink) -> None:
        self.component.tick()
        publish_outbox(link, self.component)

    def stop(self, link: MemberLink) -> None:
        self.component.stop()
        publish_outbox(link, self.component)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m components.hosting", add_help=False)
    ap.add_argument("--host-name", required=True)
    ap.add_argument("--host-spec", required=True, help="JSON class spec (components.spec)")
    ap.add_argument("--run-dir", required=True, type=Path)
    args, rest = ap.parse_known_args(argv)
    from bus.__main__ import main as bus_main

    try:
        component: Any = instantiate(json.loads(args.host_spec))
    except Exception:  # noqa: BLE001 - a bad spec: leave its traceback as the runtime would
        leave_failure(args.run_dir, exception_record(args.host_name))
        return EXIT_FAILED
    hosted = HostedComponent(args.host_name, component)
    return bus_main(["--run-dir", str(args.run_dir), *rest], hosted=[hosted], prog="python -m components.hosting")


if __name__ == "__main__":
    sys.exit(main())
