"""tickbus transport: the bus process, its member client, control client and taps. Knows nothing
about trading; depends on pyzmq and msgpack only. Protocol: bus/protocol.py."""

from bus.api import MemberClient, MemberLink
from bus.client import BusClient
from bus.control import ControlClient
from bus.endpoints import Endpoints
from bus.errors import BusError, BusLost, IdleTimeout, JoinError, MemberLost
from bus.processes import spawn_bus_process, start_bus_process, wait_bus_ready
from bus.server import BusServer
from bus.tap import Tap

__all__ = [
    "BusClient", "BusError", "BusLost", "BusServer", "ControlClient", "Endpoints", "IdleTimeout",
    "JoinError", "MemberClient", "MemberLink", "MemberLost", "Tap",
    "spawn_bus_process",
    "start_bus_process",
    "wait_bus_ready",
]
