"""tickbus transport: the bus process, its member client, control client, taps and an in-process
twin. Knows nothing about trading; depends on pyzmq and msgpack only. Protocol: bus/protocol.py."""

from bus.api import MemberClient
from bus.client import BusClient
from bus.control import ControlClient
from bus.endpoints import Endpoints
from bus.errors import BusError, BusLost, IdleTimeout, JoinError, MemberLost
from bus.inprocess import InProcessBus, InProcessClient
from bus.server import BusServer, start_bus_process
from bus.tap import Tap

__all__ = [
    "BusClient", "BusError", "BusLost", "BusServer", "ControlClient", "Endpoints", "IdleTimeout",
    "InProcessBus", "InProcessClient", "JoinError", "MemberClient", "MemberLost", "Tap",
    "start_bus_process",
]
