"""Wire codec for events: routing topics and msgpack payloads.

A message is `[topic, payload]`. The topic is `"{EventType}.{route}."`: every segment ends with a
`.`, so a subscription prefix never matches more than intended (`FillEvent.s1.` does not match
`FillEvent.s10.`). The route is the strategy id for events that belong to one strategy; bars are
all on `FEED_TOPIC`, whole timestamps per message.

The payload is a msgpack array of one or more records of the topic's event type (a timestamp's
bars travel as one message). A record is the array of the event's field values in dataclass field
order; enums travel by member name, so ints stay ints, None stays None and NaN stays NaN.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgpack

from components import events as ev
from components.fastbuild import FieldSource, compile_builder

# The datafeed's bars to the broker, the strategies and the recorder: one or more whole timestamps
# per message, in time order (see `by_timestamp`). A strategy still sees a timestamp's fills before
# its bars: it holds them until the broker releases them whenever the broker could have something
# for it (components/broker_sync.py).
FEED_TOPIC = "BarReceived.feed."

EVENT_CLASSES: dict[str, type[ev.EventBase]] = {cls.__name__: cls for cls in ev.EVENT_TYPES + ev.SYNC_TYPES}


class DecodeError(ValueError):
    """A frame that is not a valid message of a known event type."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"cannot decode message on topic {topic!r}: {reason}")
        self.topic = topic
        self.reason = reason


def topic_of(event: ev.EventBase) -> str:
    """The routing topic of an event (bars: FEED_TOPIC; else by strategy id when it has one)."""
    name = type(event).__name__
    if isinstance(event, ev.BarReceived) and not isinstance(event, ev.BarProcessed):
        return FEED_TOPIC
    sid = getattr(event, "strategy_id", "")
    return f"{name}.{sid}." if sid else f"{name}."


def type_prefix(cls: type[ev.EventBase], route: str = "") -> str:
    """Subscription prefix for one event type, optionally restricted to one route."""
    return f"{cls.__name__}.{route}." if route else f"{cls.__name__}."


def check_route(route: str) -> str:
    """Routes are topic segments: non-empty, no `.` and no whitespace."""
    if not route or "." in route or any(c.isspace() for c in route):
        raise ValueError(f"invalid route {route!r}: must be non-empty without '.' or whitespace")
    return route


# --- field types on the wire ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _WireForm:
    """How one field travels, as Python source for the compiled encoder and decoder.

    `encode` is an expression over `{v}` (the field's value); `check` are statements over the
    received value `v` that raise `bad(v)` for a value of the wrong type and may rebind `v` to the
    field's value; `env` holds the names they use.
    """

    encode: str
    check: tuple[str, ...]
    env: dict[str, Any]


def _wire_form(hint: Any, key: str) -> _WireForm:
    """The one switch on a field's type (`key` makes the names it adds to `env` unique)."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    or_none = " and v is not None" if optional else ""
    if isinstance(base, type) and issubclass(base, enum.Enum):
        members = f"members_{key}"
        check: tuple[str, ...] = (f"w = {members}.get(v) if type(v) is str else None", "if w is None: raise bad(v)", "v = w")
        if optional:
            check = ("if v is not None:", *(f"    {line}" for line in check))
        encode = "(None if {v} is None else {v}._name_)" if optional else "{v}._name_"
        return _WireForm(encode, check, {members: dict(base.__members__)})
    if base is float:
        return _WireForm("{v}", (f"if type(v) is not float and type(v) is not int{or_none}: raise bad(v)",), {})
    if base is int or base is str:
        return _WireForm("{v}", (f"if type(v) is not {base.__name__}{or_none}: raise bad(v)",), {})
    if typing.get_origin(base) is tuple and not optional:  # tuple[str, ...]: an array of strings
        check = ("if type(v) is not list: raise bad(v)", "for x in v:", "    if type(x) is not str: raise bad(v)",
                 "v = tuple(v)")
        return _WireForm("{v}", check, {})
    if typing.get_origin(base) is dict and not optional:  # dict[str, float]: a map of numbers
        check = ("if type(v) is not dict: raise bad(v)", "for k, x in v.items():",
                 "    if type(k) is not str or (type(x) is not float and type(x) is not int): raise bad(v)")
        return _WireForm("{v}", check, {})
    raise TypeError(f"no wire form for {hint!r}")


class _Layout:
    """Per event class: field names, and an encoder and decoder compiled from their wire forms.

    Encoding and decoding run for every event every process sends or receives: one list display
    (`[e.a, e.b._name_, ...]`) encodes, and one function with the type checks inline and direct slot
    stores (components/fastbuild.py) decodes, several times faster than per-field converters and
    the keyword constructor.
    """

    def __init__(self, cls: type[ev.EventBase]) -> None:
        hints = typing.get_type_hints(cls)
        self.cls = cls
        self.names = tuple(f.name for f in dataclasses.fields(cls))
        forms = [_wire_form(hints[n], str(i)) for i, n in enumerate(self.names)]
        self.field_sources = tuple(form.encode for form in forms)
        self.encode: Callable[[ev.EventBase], list[Any]] = self._compile_encoder(forms)
        self.decode: Callable[[Any], ev.EventBase] = self._compile_decoder(forms)

    def _compile_encoder(self, forms: list[_WireForm]) -> Callable[[Any], list[Any]]:
        parts = ", ".join(form.encode.format(v=f"e.{name}") for name, form in zip(self.names, forms))
        env: dict[str, Any] = {}
        exec(compile(f"def encode(e):\n    return [{parts}]", f"<encoder {self.cls.__name__}>", "exec"), env)
        return env["encode"]  # type: ignore[no-any-return]

    def _compile_decoder(self, forms: list[_WireForm]) -> Callable[[Any], ev.EventBase]:
        """`decode(record)`: the event; ValueError naming the field for a value of the wrong type."""
        cls_name, n = self.cls.__name__, len(self.names)

        def bad_record(record: Any) -> ValueError:
            got = type(record).__name__ + (f" of {len(record)}" if isinstance(record, list) else "")
            return ValueError(f"{cls_name} record must be an array of {n} fields, got {got}")

        env: dict[str, Any] = {"bad_record": bad_record}
        fields: dict[str, FieldSource] = {}
        for i, (name, form) in enumerate(zip(self.names, forms)):
            env[f"bad{i}"] = _bad_value(f"{cls_name}.{name}")
            env.update(form.env)
            check = tuple(line.replace("raise bad(v)", f"raise bad{i}(v)") for line in form.check)
            fields[name] = FieldSource("v", (f"v = r[{i}]", *check))
        prologue = (f"if type(r) is not list or len(r) != {n}: raise bad_record(r)",)
        return compile_builder(self.cls, ("r",), fields, env=env, prologue=prologue)


def _bad_value(where: str) -> Callable[[Any], ValueError]:
    return lambda value: ValueError(f"{where}: unexpected value {value!r}")


_LAYOUTS: dict[type[ev.EventBase], _Layout] = {cls: _Layout(cls) for cls in ev.EVENT_TYPES + ev.SYNC_TYPES}
_BY_NAME: dict[str, _Layout] = {cls.__name__: lay for cls, lay in _LAYOUTS.items()}

_packer = msgpack.Packer(use_bin_type=True)


def encode(events: Sequence[ev.EventBase]) -> bytes:
    """Payload for a message holding `events` (all of one type)."""
    if not events:
        raise ValueError("a message holds at least one event")
    layout = _LAYOUTS[type(events[0])]
    records = []
    for e in events:
        if type(e) is not layout.cls:
            raise ValueError(f"one message holds one event type: {type(e).__name__} after {layout.cls.__name__}")
        records.append(layout.encode(e))
    return _packer.pack(records)


def decode(topic: bytes | str, payload: bytes) -> list[ev.EventBase]:
    """Events of one message; raises DecodeError naming the topic and what is wrong."""
    try:
        tstr = topic.decode("utf-8") if isinstance(topic, bytes) else topic
    except UnicodeDecodeError:
        raise DecodeError(repr(topic), "topic is not UTF-8") from None
    name = tstr.split(".", 1)[0]
    layout = _BY_NAME.get(name)
    if layout is None:
        raise DecodeError(tstr, f"unknown event type {name!r}")
    try:
        records = msgpack.unpackb(payload, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise DecodeError(tstr, f"payload is not msgpack ({type(exc).__name__}: {exc})") from None
    if type(records) is not list or not records:
        raise DecodeError(tstr, "payload must be a non-empty array of records")
    decode_record = layout.decode
    try:
        out = [decode_record(r) for r in records]
    except (ValueError, TypeError) as exc:
        raise DecodeError(tstr, str(exc)) from None
    return out


def record_encoder(cls: type[ev.EventBase]) -> Callable[[ev.EventBase], list[Any]]:
    """Field values of an event in wire order with enums by name (a payload record, unpacked)."""
    return _LAYOUTS[cls].encode


def field_encoders(cls: type[ev.EventBase]) -> tuple[str, ...]:
    """Per field, in wire order, the Python expression over `{v}` (the field's value) that gives
    its wire value: for code that compiles its own encoder (the recorder's rows)."""
    return _LAYOUTS[cls].field_sources


def group_by_topic(events: Iterable[ev.EventBase]) -> list[tuple[str, list[ev.EventBase]]]:
    """Batch consecutive events that share a topic (and type) into messages, keeping order.

    An event's topic is a function of its type and strategy id (`topic_of`), so consecutive events
    are compared by that pair and each pair's topic is made once (every strategy sends one
    BarProcessed per bar through here)."""
    out: list[tuple[str, list[ev.EventBase]]] = []
    topics = _TOPICS
    key: tuple[type, Any] | None = None
    batch: list[ev.EventBase] = []
    for e in events:
        k = (type(e), getattr(e, "strategy_id", "") or "")
        if k == key:
            batch.append(e)
            continue
        key, batch = k, [e]
        try:
            t = topics[k]
        except (KeyError, TypeError):  # a new pair (or a strategy id no dict can hold)
            t = topic_of(e)
            if type(k[1]) is str and len(topics) < _MAX_TOPICS:
                topics[k] = t
        out.append((t, batch))
    return out


_TOPICS: dict[tuple[type, Any], str] = {}
_MAX_TOPICS = 4096  # (type, strategy id) pairs remembered: bounded whatever the ids


def by_timestamp(bars: Sequence[ev.BarReceived]) -> list[Sequence[ev.BarReceived]]:
    """A feed message's bars split into one list per timestamp (in order; usually just one)."""
    if not bars or bars[0].ts_event_ns == bars[-1].ts_event_ns:
        return [bars]
    out: list[Sequence[ev.BarReceived]] = []
    start = 0
    ts = bars[0].ts_event_ns
    for i, bar in enumerate(bars):
        if bar.ts_event_ns != ts:
            out.append(bars[start:i])
            start, ts = i, bar.ts_event_ns
    out.append(bars[start:])
    return out


def same_event(a: ev.EventBase, b: ev.EventBase) -> bool:
    """Equality that treats NaN as equal to NaN (for round-trip checks)."""
    if type(a) is not type(b):
        return False
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys() or any(
                not (xv == y[k] or (isinstance(xv, float) and math.isnan(xv) and math.isnan(y[k])))
                for k, xv in x.items()
            ):
                return False
            continue
        if x != y or type(x) is not type(y):
            return False
    return True
