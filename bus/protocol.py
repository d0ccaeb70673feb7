"""The tickbus wire protocol: every frame the bus, its members, control clients and taps exchange.

Check the code against this text: the bus (server.py, which reads member messages, and the pieces
it drives: router.py, waits.py, liveness.py, control_service.py, hosted.py, policy.py), members
(client.py), control clients (control.py), taps (tap.py). The constants at the bottom are the
only spellings of the kinds and statuses used below.

Sockets and endpoints
---------------------
The bus binds three endpoints, written atomically to <run_dir>/endpoints.json (endpoints.py) once
all are bound. Default ipc:// paths in the 0700 run dir (a private 0700 temp dir when the path
would exceed the unix-socket limit): only the run's user reaches them. With transport="tcp" they
are tcp://127.0.0.1:<random port>; with --listen tcp://HOST:PORT members binds there and
control/tap on HOST, any port. Every tcp endpoint, loopback included, is a CURVE server: only the
run's access key gets past the handshake, so the frames below never reach a tcp bus from anyone
else (bus/security.py).

  members  ROUTER, ROUTER_MANDATORY,  each member: one DEALER for data (routing id chosen by the
           SNDHWM=RCVHWM=0            client: b"m" + 15 random bytes) and one DEALER owned by its
           (never drops)              heartbeat thread (routing id assigned by ZeroMQ)
  control  ROUTER                     ControlClient (DEALER) or any REQ socket
  tap      XPUB, SNDHWM=tap_hwm,      passive listeners (SUB): never counted, may lose messages
           XPUB_VERBOSER

Why one ROUTER instead of XSUB/XPUB: the bus routes each PUBLISH itself (prefix match against
every joined member's prefixes, cached per topic), so a member's subscriptions are live the
instant the bus handles its JOIN: no asynchronous subscription propagation, no slow-joiner window.
And publishes, acks, JOIN, LEAVE and WAIT share the member's one DEALER, a single ordered pipe,
which gives invariants 3 and 4 by construction.

Below, frames are listed as the DEALER sends/receives them (the ROUTER sees the routing id
first). "" is an empty frame. rid is a request id chosen by the client (ASCII digits) and echoed
in the reply, so a late reply to an abandoned request is recognised (and dropped, not counted).

Member -> bus (data DEALER)
~~~~~~~~~~~~~~~~~~~~~~~~~~~
A message is one or more records, processed strictly in order:

  PUBLISH  [topic, payload]                       topic non-empty: 2 frames
  JOIN     ["", J, rid, msgpack{name, prefixes, tracked, trailing, critical, pid, host}]
  WAIT     ["", I, rid, msgpack[include_trailing, timeout_s, stall?]]  (wait-until-idle; with
                                                  stall the timeout counts from the last ACK of
                                                  any member: "timeout" means no progress for
                                                  timeout_s, however long the wait as a whole)
  ACK      ["", A, count]                         count: ASCII decimal > 0 (may be fewer than the
                                                  deliveries received: the rest stay pending)
  LEAVE    ["", L, rid]
  STATS    ["", S, rid]

A record starting with a non-empty frame is a PUBLISH; one starting with "" is a command whose
frame count is fixed by its kind (COMMAND_FRAMES). The client sends most records alone; it
batches the outputs a member publishes while handling deliveries with the ACK that follows them
(e.g. [t1, p1, t2, p2, "", A, "2"]), so outputs + ack cost the bus one wake-up. Only a joined
member may PUBLISH, and only the topics the run's policy grants it ("The run's policy" below);
any other PUBLISH is refused. A connection whose member left or was lost has its records dropped
(stats["dropped"]): it was told to stop.

Bus -> member (data DEALER)
~~~~~~~~~~~~~~~~~~~~~~~~~~~
  DELIVER  [topic, payload]                       a copy of a PUBLISH matching a prefix; the
                                                  copies for one member of the PUBLISHes of one
                                                  member message travel as one message
                                                  [t1, p1, t2, p2, ...] (one wake-up, in order)
  REPLY    ["", kind, rid, status, body]          kind j (JOIN), i (WAIT), l (LEAVE), s (STATS)
  STOP     ["", x, reason-utf8]                   stop_member / shutdown / this member was lost

  j ok  msgpack{bus_pid, heartbeat_timeout,       j err       msgpack{error}
                critical}  (what the run's policy granted: losing it fails the run)
  i ok  ""                                        i timeout   msgpack{error, pending{name: n}}
  i failed msgpack{error, member}                 i shutdown  msgpack{error}
  l ok  ""                                        s ok        msgpack(stats)

Heartbeat DEALER <-> bus (members endpoint)
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  HEARTBEAT        ["", H, data-routing-id]      every heartbeat_interval (0.1 s; lowered to
                                                 heartbeat_timeout/4 at JOIN) from creation
  HEARTBEAT_REPLY  ["", h, status]               ok | unknown (not joined) | lost (removed)

The bus declares a member lost after heartbeat_timeout (default 1 s) without HEARTBEAT. The client
raises BusLost when its heartbeats go unanswered for bus_silence_timeout (default 5 s); a "lost"
reply sets stop_requested. The heartbeat thread has its own socket, so a handler that is slow but
alive keeps heartbeating (the thread needs the GIL only briefly).

Control client <-> bus (control endpoint; REQ-compatible envelope)
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  request  ["", command, msgpack{id?, ...args}]
           command: ping | stats | members | stop_member{name} | fail{reason} | shutdown
  reply    ["", msgpack{ok, id?, error? | pid | stats | members}]

stop_member sends that member STOP. fail puts the bus in the failed state: every pending and future
WAIT is answered "failed" with the reason. shutdown: the bus sends STOP to every member, replies ok,
answers pending WAITs "shutdown", keeps serving LEAVEs for up to shutdown_grace (1 s) while
members remain, then exits (SIGTERM/SIGINT do the same without the reply). The control socket is
read every housekeeping tick (20 ms), so requests wait at most that long.

Hosted members (hosted.py)
~~~~~~~~~~~~~~~~~~~~~~~~~~
A bus process may host members in its own loop (`tickbus run` hosts the broker there). A hosted
member has no socket: it is joined when the bus starts (ident b"\x00hosted:<name>", pid = the
bus's), its deliveries are handed to it by a call right after they are routed, and what it
publishes is routed and counted before its ACK is applied, exactly the order a remote member's
single DEALER gives (invariant 3). A STOP is a call to its stop() (what that publishes is routed),
after which it has left. An exception from it is a loss: it is removed, and if critical the bus
fails as for a dead process (invariant 5). It needs no heartbeat: it lives as long as the bus.
The run's policy binds it like any member.

The run's policy (policy.py)
~~~~~~~~~~~~~~~~~~~~~~~~~~~~
The run, not the joiner, decides whose loss fails the run and who may publish what; it gives the
bus a policy (--policy FILE; without one every member is as critical as it asks and publishes
anything: tests, benchmarks). policy.py states the rules; in short:
- the run's own members (named in the policy) are critical if they ask and the policy says so,
  and publish only the topic prefixes the policy lists for them;
- the first N other joiners (N: the attachers the run expects) are critical if they ask and the
  run's on-attach-loss is "fail"; every later one is a surprise joiner and never critical. Each
  publishes only the policy's attacher prefixes with its own name in them;
- a connection that has not joined publishes nothing.
A PUBLISH outside its sender's rights is refused: counted in stats["refused"] (and the member's
"refused"), logged (at most 10 lines/s), never delivered, and not malformed. A non-critical
member cannot stall the run either (invariant 5).

Tap (XPUB -> SUB)
~~~~~~~~~~~~~~~~~
  [topic, payload]  for every forwarded PUBLISH, only while some tap subscription exists
The XPUB reports b"\x01prefix" (subscribe) / b"\x00prefix" (unsubscribe, also when a tap goes);
anything else read from it is malformed. XPUB never blocks: above a tap's HWM it drops for that
tap only.

Malformed input
~~~~~~~~~~~~~~~
Whatever does not parse (wrong frame count, unknown kind, truncated command, bad msgpack, topic
not UTF-8 or not ending in '.', an ACK from a connection that never joined, an ACK count that is
not a positive integer or exceeds what is pending) is dropped and logged to stderr (at most 10
lines/s, then a count of suppressed lines); stats["malformed"] counts messages, not records: a
message with one fault or several counts once. The valid records of that message are applied:
those before a fault that leaves the rest of the message unreadable (a frame that is no record),
and every other valid record around a bad one (a bad topic, a bad ACK count). The client counts
malformed bus messages in BusClient.malformed the same way. Neither ever raises out.

Topics
~~~~~~
UTF-8, every segment ends with ".": the prefix "BarReceived.AAPL." never matches
"BarReceived.AAPLX.". Join prefixes must be "" (everything) or end with ".".

Idle tracking: how each invariant is met
----------------------------------------
1. Counted only once live. The bus adds the member to its routing table while handling JOIN and
   only then replies "j ok"; every PUBLISH it handles afterwards is routed and counted to it.
   BusClient.join returns only after "j ok". (server.BusServer._on_join, registry.Registry.add)
2. One pending per matching counted member. For each PUBLISH the bus sends one DELIVER to every
   joined member with a matching prefix (several matching prefixes still mean one copy) and adds
   one pending to each that is tracked or trailing. (router.Router.forward, Registry.route)
3. Acks after outputs, on the same ordered path. PUBLISH and ACK travel on the member's one DEALER
   and the client holds the outputs made while deliveries are unacked until the ACK, in the same
   message, after them: the bus forwards and counts the outputs before it uncounts the input.
   ACK carries a count: one per drained batch. (client.BusClient.publish/ack, server.BusServer._records)
4. Idle. WAIT travels on the waiter's DEALER after its publishes and the bus forwards a PUBLISH
   synchronously when it reads it, so when it reads WAIT everything the waiter published before
   has been forwarded and counted. It replies "i ok" once non-trailing pending is 0 and trailing
   pending is 0 (include_trailing) or <= max_trailing_backlog (otherwise), re-checking on every
   ACK, LEAVE and loss. (waits.Waits.on_wait, Waits.check, Registry.idle)
   A member may acknowledge fewer deliveries than it received: the rest stay pending, so no WAIT
   returns while it holds them.
5. Loss is loud. A member whose process exited (pid polled every 80 ms when it runs on the bus's
   host; zombies and reused pids count as exited), whose connection vanished (a ROUTER_MANDATORY
   send fails) or whose heartbeats stopped for heartbeat_timeout is removed and sent STOP; if it
   was critical the bus becomes failed and every pending and future WAIT is answered "failed"
   naming it (MemberLost). A non-critical member is just removed (stats["lost_members"]); and
   when a WAIT with stall times out while only non-critical members have work pending, they are
   lost ("made no progress") and the wait goes on: a member whose loss cannot fail the run
   cannot stall it either. LEAVE removes a member and its pending without error.
   (liveness.Liveness.check, server.BusServer.lose, waits.Waits.expire)
"""

from __future__ import annotations

# --- member -> bus (data DEALER, after the empty delimiter frame) ---
JOIN = b"J"
WAIT = b"I"
ACK = b"A"
LEAVE = b"L"
STATS = b"S"
HEARTBEAT = b"H"  # sent on the heartbeat DEALER

# --- bus -> member ---
JOIN_REPLY = b"j"
WAIT_REPLY = b"i"
LEAVE_REPLY = b"l"
STATS_REPLY = b"s"
HEARTBEAT_REPLY = b"h"
STOP = b"x"

# frames per command record, counting the empty delimiter and the kind
COMMAND_FRAMES = {ACK: 3, WAIT: 4, HEARTBEAT: 3, JOIN: 4, LEAVE: 3, STATS: 3}
KIND_NAMES = {ACK: "ACK", WAIT: "WAIT", HEARTBEAT: "HEARTBEAT", JOIN: "JOIN", LEAVE: "LEAVE", STATS: "STATS"}

# STOP reasons: to every member at shutdown; to one member on a stop_member request; to a member
# the bus lost, followed by why (invariant 5)
STOP_SHUTDOWN = "bus shutting down"
STOP_REQUESTED = "stop requested by control"
STOP_LOST = "removed by the bus: "

REPLY_KINDS = frozenset({JOIN_REPLY, WAIT_REPLY, LEAVE_REPLY, STATS_REPLY})

# --- reply statuses ---
OK = b"ok"
ERR = b"err"
TIMEOUT = b"timeout"
FAILED = b"failed"
SHUTDOWN = b"shutdown"
UNKNOWN = b"unknown"  # heartbeat reply: routing id not joined
LOST = b"lost"  # heartbeat reply: the bus removed this member

DELIM = b""

# --- control commands ---
CTL_PING = b"ping"
CTL_STATS = b"stats"
CTL_MEMBERS = b"members"
CTL_STOP_MEMBER = b"stop_member"
CTL_FAIL = b"fail"
CTL_SHUTDOWN = b"shutdown"
CONTROL_COMMANDS = frozenset({CTL_PING, CTL_STATS, CTL_MEMBERS, CTL_STOP_MEMBER, CTL_FAIL, CTL_SHUTDOWN})

# --- tap subscription messages (XPUB) ---
TAP_SUBSCRIBE = 1
TAP_UNSUBSCRIBE = 0

SEPARATOR = "."
MEMBER_ID_PREFIX = b"m"


def topic_bytes(topic: str) -> bytes:
    """A member's topic as it goes on the wire; ValueError unless non-empty and ending with '.'."""
    t = topic.encode()
    if not t or t[-1] != 0x2E:
        raise ValueError(f"topic {topic!r} must be non-empty and end with '.'")
    return t


def topic_error(topic: bytes) -> str | None:
    """Why `topic` is not a valid topic, or None when it is (non-empty UTF-8, ends with '.')."""
    if not topic:
        return "empty topic"
    if topic[-1] != 0x2E:  # "."
        return "topic does not end with '.'"
    try:
        topic.decode("utf-8")
    except UnicodeDecodeError:
        return "topic is not UTF-8"
    return None


def prefix_error(prefix: object) -> str | None:
    """Why `prefix` is not a valid subscription prefix ("" or a str ending with '.'), or None."""
    if not isinstance(prefix, str):
        return f"prefix {prefix!r} is not a string"
    if prefix and not prefix.endswith(SEPARATOR):
        return f"prefix {prefix!r} does not end with '.' (it would match partial segments)"
    return None


def matches(topic: bytes, prefixes: tuple[bytes, ...]) -> bool:
    """Prefix match: the one routing rule, shared by the bus process and the in-process bus."""
    for p in prefixes:
        if topic.startswith(p):
            return True
    return False
