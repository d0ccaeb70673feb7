"""The bus side of the control endpoint: ping, stats, members, stop_member, fail, shutdown
(protocol.py, "Control client <-> bus"). Read every housekeeping tick, so a request waits at most
that long; bus/control.py is the client.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import msgpack
import zmq

from bus import protocol as P

if TYPE_CHECKING:
    from bus.server import BusServer

CONTROL_DRAIN = 64  # requests read per housekeeping tick


class ControlService:
    def __init__(self, server: BusServer, sock: zmq.Socket[bytes]) -> None:
        self.server = server
        self.sock = sock

    def drain(self) -> None:
        """Answer the requests waiting on the control socket (REQ-compatible envelope)."""
        for _ in range(CONTROL_DRAIN):
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            ident = frames[0]
            if len(frames) not in (3, 4) or frames[1] != P.DELIM:
                self.server.malformed(f"control request with {len(frames) - 1} frames")
                continue
            cmd = frames[2]
            args: dict[str, Any] = {}
            if len(frames) == 4 and frames[3]:
                try:
                    args = msgpack.unpackb(frames[3])
                    if not isinstance(args, dict):
                        raise ValueError("arguments are not a map")
                except Exception as exc:  # noqa: BLE001
                    self.server.malformed(f"control {cmd[:20]!r}: arguments do not decode: {exc}")
                    self._reply(ident, {"ok": False, "error": f"bad arguments: {exc}"})
                    continue
            reply = self.handle(cmd, args)
            if "id" in args:
                reply["id"] = args["id"]
            self._reply(ident, reply)
            if cmd == P.CTL_SHUTDOWN and reply.get("ok"):
                self.server.stop("shutdown requested")
                return

    def handle(self, cmd: bytes, args: dict[str, Any]) -> dict[str, Any]:
        server = self.server
        if cmd == P.CTL_STATS:
            return {"ok": True, "stats": server.stats()}
        if cmd == P.CTL_PING:
            return {"ok": True, "pid": os.getpid()}
        if cmd == P.CTL_MEMBERS:
            return {"ok": True, "members": server.stats()["members"]}
        if cmd == P.CTL_STOP_MEMBER:
            m = server.reg.members.get(args.get("name"))  # type: ignore[arg-type]
            if m is None:
                return {"ok": False, "error": f"no member named {args.get('name')!r}"}
            server.send_stop(m, P.STOP_REQUESTED)
            return {"ok": True}
        if cmd == P.CTL_FAIL:
            server.fail_requested(str(args.get("reason") or "failed by control request"))
            return {"ok": True}
        if cmd == P.CTL_SHUTDOWN:
            server.stop_all()  # STOP first, then the reply, then the loop exits
            return {"ok": True}
        server.malformed(f"unknown control command {cmd[:30]!r}")
        return {"ok": False, "error": f"unknown command {cmd[:30]!r}"}

    def _reply(self, ident: bytes, reply: dict[str, Any]) -> None:
        try:
            self.sock.send_multipart((ident, P.DELIM, msgpack.packb(reply)))
        except zmq.ZMQError:
            pass
