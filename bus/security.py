"""Who may talk to a bus: where it listens and, over tcp, ZeroMQ CURVE keys (zmq.auth).

Why: ipc sockets live in the run's 0700 directory, so only its user reaches them. A tcp port is
everyone's: on a shared host 127.0.0.1 is reachable by every local user, and any other address
by the network. So every tcp bus, loopback included, requires CURVE on all three endpoints
(members, control, tap) and refuses every connection that does not present the run's access key.
No crypto of ours: the keys come from zmq.auth.create_certificates, the check from zmq.auth's
ThreadAuthenticator.

Files the bus writes into its run directory (0700) over tcp:

  curve/server.key, curve/server.key_secret   the bus's key pair
  curve/clients/access.key                    public half of the access key: the one allowed client
  access.key                                  the access key (0600): a zmq.auth secret certificate
                                              whose metadata holds server-key, bus-pid, members,
                                              control, tap and what the starter added (run-id, ...)

Whoever holds access.key may join, publish (what the run's policy lets its member publish,
bus/policy.py), tap and send control requests; endpoints.json names it, so local clients of the
same user find it there, and `endpoints_from_key` turns a copy of it into Endpoints elsewhere.
Refused handshakes (no key, wrong key) are logged to the bus's stderr by a monitor thread.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import zmq
import zmq.auth

from bus.endpoints import Endpoints
from bus.errors import BusError
from bus.log import RateLimitedLog

ACCESS_KEY_FILE = "access.key"
CURVE_DIR = "curve"
REFUSED_SEND_TIMEOUT_MS = 1000
REFUSAL_SUMMARY_S = 10.0  # repeated refusals of the same kind are summed up this often
_HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_PROTOCOL_ERRORS = {getattr(zmq, n): n[len("PROTOCOL_ERROR_"):].lower() for n in dir(zmq) if n.startswith("PROTOCOL_ERROR_")}


# --- endpoints ---------------------------------------------------------------------------------

def split_tcp(endpoint: str) -> tuple[str, str]:
    """`tcp://HOST:PORT` -> (HOST, PORT); IPv6 hosts keep their brackets. ValueError otherwise."""
    if not endpoint.startswith("tcp://"):
        raise ValueError(f"{endpoint!r} is not a tcp://HOST:PORT endpoint")
    host, sep, port = endpoint[len("tcp://"):].rpartition(":")
    if not sep or not host or not port:
        raise ValueError(f"{endpoint!r} is not a tcp://HOST:PORT endpoint")
    if port not in ("*", "0") and not port.isdigit():
        raise ValueError(f"{endpoint!r}: port {port!r} is not a number")
    return host, port


def _with_host(endpoint: str, host: str) -> str:
    _, port = split_tcp(endpoint)
    return f"tcp://{host}:{port}"


def _local_form(endpoint: str) -> str:
    """A wildcard bind address as a local client should connect to it."""
    if not endpoint.startswith("tcp://"):
        return endpoint
    host, _ = split_tcp(endpoint)
    if host in ("0.0.0.0", "*"):
        return _with_host(endpoint, "127.0.0.1")
    if host in ("[::]", "::"):
        return _with_host(endpoint, "[::1]")
    return endpoint


# --- the access key ----------------------------------------------------------------------------

@dataclass(frozen=True)
class AccessKey:
    """A client key pair plus the bus's public key and the metadata the bus wrote with it."""

    public: bytes
    secret: bytes
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def server_key(self) -> str:
        return self.metadata.get("server-key", "")


def read_access_key(path: str | os.PathLike[str]) -> AccessKey:
    """Load an access key file (zmq.auth certificate format, with our metadata)."""
    try:
        public, secret = zmq.auth.load_certificate(path)
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BusError(f"{path}: not a tickbus access key ({exc})") from None
    metadata: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[:1].isspace():
            section = line.strip()
        elif section == "metadata" and "=" in line:
            k, _, v = line.partition("=")
            metadata[k.strip()] = v.strip()
    if secret is None or not metadata.get("server-key"):
        raise BusError(f"{path}: not a tickbus access key (no secret key or no server-key)")
    return AccessKey(public, secret, metadata)


def endpoints_from_key(path: str | os.PathLike[str], endpoint: str | None = None) -> Endpoints:
    """Endpoints of the bus an access key belongs to. With `endpoint` (tcp://HOST:PORT, as seen
    from here) the members endpoint is that and control/tap keep their ports on HOST."""
    key = read_access_key(path)
    md = key.metadata
    try:
        members, control, tap = md["members"], md["control"], md["tap"]
    except KeyError as exc:
        raise BusError(f"{path}: access key without endpoint {exc}") from None
    if endpoint is not None:
        host, _ = split_tcp(endpoint)
        members, control, tap = endpoint, _with_host(control, host), _with_host(tap, host)
    return Endpoints(
        members=members, control=control, tap=tap, pid=int(md.get("bus-pid", "0") or 0), transport="tcp",
        curve_server_key=key.server_key, curve_key_file=str(Path(path).absolute()),
    )


# --- client side -------------------------------------------------------------------------------

@lru_cache(maxsize=16)
def _cached_key(path: str, mtime_ns: int) -> AccessKey:
    return read_access_key(path)


def secure_client(sock: zmq.Socket[Any], endpoints: Endpoints) -> None:
    """Give a client socket the CURVE keys its bus requires (before connect); no-op without CURVE."""
    if endpoints.members.startswith("tcp://"):
        # A refused handshake (a key missing or wrong) leaves the socket without a peer, and a
        # DEALER without one blocks on send forever: bound it. Otherwise a tcp send never blocks
        # (the pipe outlives a lost connection), so this changes nothing else.
        sock.sndtimeo = REFUSED_SEND_TIMEOUT_MS
    if not endpoints.curve_server_key:
        return
    path = endpoints.curve_key_file
    if not path:
        raise BusError(f"the bus at {endpoints.members} requires an access key (--key FILE)")
    try:
        key = _cached_key(str(path), os.stat(path).st_mtime_ns)
    except OSError as exc:
        raise BusError(f"cannot read access key {path}: {exc.strerror}") from None
    sock.curve_serverkey = endpoints.curve_server_key.encode()
    sock.curve_publickey = key.public
    sock.curve_secretkey = key.secret


def check_access(endpoints: Endpoints, timeout: float = 5.0) -> int:
    """Ping the bus (control endpoint) and return its pid; when it refuses us, say why (missing
    or wrong key) instead of just timing out. Tools call this before joining or tapping."""
    import msgpack

    from bus import protocol as P

    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    mon = None
    try:
        secure_client(sock, endpoints)
        mon = sock.get_monitor_socket(_HANDSHAKE_FAILURES)
        sock.connect(endpoints.control)
        sock.send_multipart((P.DELIM, P.CTL_PING, msgpack.packb({"id": 1})), zmq.NOBLOCK)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(mon, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready = dict(poller.poll(int(left * 1000) + 1))
            if mon in ready:
                from zmq.utils.monitor import recv_monitor_message

                event = recv_monitor_message(mon)
                raise BusError(f"the bus at {endpoints.control} refused the connection: {_refusal(event)}")
            if sock in ready:
                frames = sock.recv_multipart()
                reply = msgpack.unpackb(frames[-1])
                if isinstance(reply, dict) and reply.get("ok"):
                    return int(reply.get("pid", 0))
        raise BusError(f"no answer from a bus at {endpoints.control} within {timeout:g} s")
    finally:
        if mon is not None:
            sock.disable_monitor()
            mon.close(0)
        sock.close(0)
        ctx.term()


def _refusal(event: dict[str, Any]) -> str:
    """A refused handshake's monitor event in words (the same wording on both sides)."""
    kind, value = event["event"], event["value"]
    if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return f"client key not allowed (ZAP status {value}): not this run's access key"
    if kind == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        detail = _PROTOCOL_ERRORS.get(value, hex(value))
        return {"zmtp_mechanism_mismatch": "no CURVE key on one side (mechanism mismatch)",
                "zmtp_cryptographic": "wrong server key (cannot decrypt)"}.get(detail, detail)
    return "handshake failed (missing or wrong access key)"


def client_configurer(endpoints: Endpoints) -> Callable[[zmq.Socket[Any]], None]:
    """`secure_client` bound to `endpoints` (for sockets made later, e.g. in a heartbeat thread)."""
    if not endpoints.members.startswith("tcp://"):
        return _no_security
    return lambda sock: secure_client(sock, endpoints)


def _no_security(sock: zmq.Socket[Any]) -> None:
    return None


# --- server side -------------------------------------------------------------------------------

def bus_args(listen: str | None, key_metadata: dict[str, str] | None = None) -> list[str]:
    """`python -m bus` arguments for these settings (see ServerSecurity)."""
    args: list[str] = []
    if listen:
        args += ["--listen", listen]
    if key_metadata:
        args += ["--key-metadata", json.dumps(key_metadata)]
    return args


class ServerSecurity:
    """CURVE on every socket of a tcp bus, and where it binds (`listen`: members on it, control
    and tap on the same host, any port; None: 127.0.0.1, any ports). The bus calls start() before
    binding, secure() on each socket, published() once bound (before writing endpoints.json) and
    stop() before closing."""

    def __init__(self, listen: str | None = None, key_metadata: dict[str, str] | None = None) -> None:
        if listen is not None:
            host, port = split_tcp(listen)
            listen = f"tcp://{host}:{'*' if port in ('0', '*') else port}"
        self.listen = listen
        self.key_metadata = {str(k): str(v) for k, v in (key_metadata or {}).items()}
        self._auth: Any = None
        self._run_dir: Path | None = None
        self._server: tuple[bytes, bytes] | None = None
        self._monitored: list[tuple[str, zmq.Socket[Any]]] = []
        self._refusals: _RefusalLog | None = None
        self._log: Callable[[str], None] = print

    def address(self, name: str) -> str | None:
        """The bind address of one socket (None: the bus's default, 127.0.0.1 on any port)."""
        if self.listen is None:
            return None
        return self.listen if name == "members" else f"tcp://{split_tcp(self.listen)[0]}:*"

    def start(self, ctx: zmq.Context[Any], run_dir: Path, log: Callable[[str], None]) -> None:
        """Server keys and the authenticator, before any socket binds (no window without checks)."""
        # the refusal thread gets a log of its own: RateLimitedLog is not thread-safe
        self._log = RateLimitedLog(getattr(log, "prefix", "tickbus-bus"), 10, getattr(log, "stream", None))
        from zmq.auth.thread import ThreadAuthenticator

        self._run_dir = run_dir
        curve_dir = run_dir / CURVE_DIR
        clients = curve_dir / "clients"
        for d in (curve_dir, clients):
            d.mkdir(mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)
        for old in clients.glob("*.key"):  # a previous bus's access key must not stay valid
            old.unlink()
        _, secret_file = _create_certificates(curve_dir, "server")
        public, secret = zmq.auth.load_certificate(secret_file)
        assert secret is not None
        self._server = (public, secret)
        self._auth = ThreadAuthenticator(ctx, log=logging.getLogger("tickbus.bus.zap"))
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(clients))  # empty yet: refuses all

    def secure(self, name: str, sock: zmq.Socket[Any]) -> None:
        """Make `sock` a CURVE server with the bus's keys (before it binds)."""
        assert self._server is not None, "start() first"
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = self._server
        self._monitored.append((name, sock))

    def published(self, bound: dict[str, str]) -> dict[str, Any]:
        """Endpoints fields for endpoints.json (with the key fields); writes access.key and allows it."""
        eps: dict[str, Any] = {name: _local_form(ep) for name, ep in bound.items()}
        assert self._server is not None and self._run_dir is not None, "start() first"
        metadata = {"server-key": self._server[0].decode(), "bus-pid": str(os.getpid()), **bound, **self.key_metadata}
        clients = self._run_dir / CURVE_DIR / "clients"
        tmp = Path(tempfile.mkdtemp(prefix=".access-", dir=self._run_dir))
        try:
            public_file, secret_file = _create_certificates(tmp, "access", metadata)
            access = self._run_dir / ACCESS_KEY_FILE
            os.replace(secret_file, access)
            os.replace(public_file, clients / "access.key")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._auth.configure_curve(domain="*", location=str(clients))
        self._refusals = _RefusalLog(self._monitored, self._log)
        self._refusals.start()
        eps.update(curve_server_key=metadata["server-key"], curve_key_file=str(access.absolute()))
        return eps

    def stop(self) -> None:
        """Before the sockets close: end monitoring and the authenticator (idempotent)."""
        if self._refusals is not None:
            self._refusals.halt()
            self._refusals = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


def _create_certificates(key_dir: Path, name: str, metadata: dict[str, str] | None = None) -> tuple[str, str]:
    """zmq.auth.create_certificates with the secret file private (0600) from its creation."""
    old = os.umask(0o077)
    try:
        public_file, secret_file = zmq.auth.create_certificates(key_dir, name, metadata)
    finally:
        os.umask(old)
    os.chmod(secret_file, 0o600)
    return public_file, secret_file


class _RefusalLog(threading.Thread):
    """Logs refused handshakes (missing or wrong key) from the sockets' monitor events: the first
    of each kind at once, repeats summed up every REFUSAL_SUMMARY_S (clients retry every 0.1 s)."""

    def __init__(self, sockets: list[tuple[str, zmq.Socket[Any]]], log: Callable[[str], None]) -> None:
        super().__init__(name="tickbus-refusals", daemon=True)
        self._log = log
        self._halt = threading.Event()
        self._sockets = sockets
        self._monitors = [(name, sock.get_monitor_socket(_HANDSHAKE_FAILURES)) for name, sock in sockets]
        self._repeats: dict[str, int] = {}
        self._next_summary = time.monotonic() + REFUSAL_SUMMARY_S

    def halt(self) -> None:
        for _, sock in self._sockets:
            try:
                sock.disable_monitor()
            except zmq.ZMQError:
                pass
        self._halt.set()
        self.join(2.0)

    def run(self) -> None:
        from zmq.utils.monitor import recv_monitor_message

        poller = zmq.Poller()
        names = {}
        for name, mon in self._monitors:
            poller.register(mon, zmq.POLLIN)
            names[mon] = name
        try:
            while not self._halt.is_set():
                for mon, _ in poller.poll(100):
                    try:
                        event = recv_monitor_message(mon, zmq.NOBLOCK)
                    except zmq.ZMQError:
                        continue
                    self._refused(names[mon], event)
                if time.monotonic() >= self._next_summary:
                    self._summarise()
            self._summarise()
        finally:
            for _, mon in self._monitors:
                mon.close(0)

    def _refused(self, name: str, event: dict[str, Any]) -> None:
        why = _refusal(event)
        endpoint = event["endpoint"]
        if isinstance(endpoint, bytes):
            endpoint = endpoint.decode(errors="replace")
        what = f"{name} {endpoint}: {why}"
        if what in self._repeats:
            self._repeats[what] += 1
        else:
            self._repeats[what] = 0
            self._log(f"refused a connection to {what}")

    def _summarise(self) -> None:
        self._next_summary = time.monotonic() + REFUSAL_SUMMARY_S
        for what, n in self._repeats.items():
            if n:
                self._log(f"refused {n} more connection(s) to {what}")
                self._repeats[what] = 0
