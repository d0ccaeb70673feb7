"""tickbus transport: the bus process, its member client, control client and taps. Knows nothing
about trading; depends on pyzmq and msgpack only. Protocol: bus/protocol.py."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bus.api import MemberClient, MemberLink
    from bus.client import BusClient
    from bus.control import ControlClient
    from bus.endpoints import Endpoints
    from bus.errors import BusError, BusLost, IdleTimeout, JoinError, MemberLost
    from bus.processes import spawn_bus_process, start_bus_process, wait_bus_ready
    from bus.server import BusServer
    from bus.tap import Tap

# Each name's module, imported on first use: `from bus import run_contract` (an in-process run's
# only need) then costs no pyzmq import (~0.08 s of start-up).
_HOME = {
    "MemberClient": "api", "MemberLink": "api", "BusClient": "client", "ControlClient": "control",
    "Endpoints": "endpoints", "BusError": "errors", "BusLost": "errors", "IdleTimeout": "errors",
    "JoinError": "errors", "MemberLost": "errors", "spawn_bus_process": "processes",
    "start_bus_process": "processes", "wait_bus_ready": "processes", "BusServer": "server", "Tap": "tap",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BusClient", "BusError", "BusLost", "BusServer", "ControlClient", "Endpoints", "IdleTimeout",
    "JoinError", "MemberClient", "MemberLink", "MemberLost", "Tap",
    "spawn_bus_process",
    "start_bus_process",
    "wait_bus_ready",
]
