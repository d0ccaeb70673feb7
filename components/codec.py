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


# --- field conversion tables -------------------------------------------------------------------

_Check = Callable[[Any], Any]


def _field_converter(hint: Any, cls_name: str, fname: str) -> tuple[_Check | None, _Check]:
    """(encode, decode) for one field; decode validates and raises ValueError on a bad value."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    optional = origin in (typing.Union, types.UnionType) and type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint

    def bad(value: Any) -> ValueError:
        return ValueError(f"{cls_name}.{fname}: unexpected value {value!r}")

    if isinstance(base, type) and issubclass(base, enum.Enum):
        members = base.__members__

        def dec_enum(v: Any) -> Any:
            if v is None and optional:
                return None
            try:
                return members[v]
            except (KeyError, TypeError):
                raise bad(v) from None

        def enc_enum(v: Any) -> Any:
            return None if v is None else v.name

        return enc_enum, dec_enum

    if base is float:

        def dec_float(v: Any) -> Any:
            if (v is None and optional) or (type(v) in (float, int)):
                return v
            raise bad(v)

        return None, dec_float

    if base is int:

        def dec_int(v: Any) -> Any:
            if (v is None and optional) or type(v) is int:
                return v
            raise bad(v)

        return None, dec_int

    if base is str:

        def dec_str(v: Any) -> Any:
            if (v is None and optional) or type(v) is str:
                return v
            raise bad(v)

        return None, dec_str

    if typing.get_origin(base) is tuple:  # tuple[str, ...]: a msgpack array of strings

        def dec_strings(v: Any) -> Any:
            if type(v) in (list, tuple) and all(type(x) is str for x in v):
                return tuple(v)
            raise bad(v)

        return None, dec_strings

    if typing.get_origin(base) is dict:

        def dec_dict(v: Any) -> Any:
            if type(v) is dict and all(type(k) is str and type(x) in (float, int) for k, x in v.items()):
                return v
            raise bad(v)

        return None, dec_dict

    raise TypeError(f"no codec for {cls_name}.{fname}: {hint!r}")


class _Layout:
    """Per event class: field names and converters, computed once."""

    def __init__(self, cls: type[ev.EventBase]) -> None:
        hints = typing.get_type_hints(cls)
        self.cls = cls
        self.names = tuple(f.name for f in dataclasses.fields(cls))
        convs = [_field_converter(hints[n], cls.__name__, n) for n in self.names]
        self.encoders = tuple((i, enc) for i, (enc, _) in enumerate(convs) if enc is not None)
        self.decoders = tuple(dec for _, dec in convs)
        self.fast_decode = _compile_decoder(cls, self.names, hints)
        self.encode: Callable[[ev.EventBase], list[Any]] = _compile_encoder(cls, self.names, hints)

    def generic_encode(self, event: ev.EventBase) -> list[Any]:
        """The reference for the compiled `encode` (tests compare the two)."""
        values = [getattr(event, n) for n in self.names]
        for i, enc in self.encoders:
            values[i] = enc(values[i])
        return values

    def decode(self, record: Any) -> ev.EventBase:
        if type(record) is not list or len(record) != len(self.names):
            raise ValueError(
                f"{self.cls.__name__} record must be an array of {len(self.names)} fields, "
                f"got {type(record).__name__}"
                + (f" of {len(record)}" if isinstance(record, list) else "")
            )
        kwargs = {n: dec(v) for n, dec, v in zip(self.names, self.decoders, record)}
        return self.cls(**kwargs)


def _compile_encoder(cls: type[ev.EventBase], names: tuple[str, ...], hints: dict[str, Any]) -> Callable[[Any], list[Any]]:
    """One list display per event class (`[e.a, e.b.name, ...]`): encoding runs for every event
    every process emits; this is ~2x faster than a loop of getattr plus per-field converters."""
    parts = []
    for name in names:
        hint = hints[name]
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        if isinstance(base, type) and issubclass(base, enum.Enum):
            parts.append(f"(None if e.{name} is None else e.{name}._name_)" if type(None) in args else f"e.{name}._name_")
        else:
            parts.append(f"e.{name}")
    env: dict[str, Any] = {}
    exec(compile(f"def encode(e):\n    return [{', '.join(parts)}]", f"<encoder {cls.__name__}>", "exec"), env)
    return env["encode"]  # type: ignore[no-any-return]


def _compile_decoder(cls: type[ev.EventBase], names: tuple[str, ...], hints: dict[str, Any]) -> Callable[[Any], Any]:
    """A decoder specialised for one event class: inline type checks and direct slot stores.

    Decoding is on every process's hot path; the generic `_Layout.decode` (dict of kwargs through
    the frozen dataclass's __init__) costs ~4.5 us per bar, this ~1 us. Any value it does not
    accept is handed to the generic decoder, which raises the descriptive error.
    """
    env: dict[str, Any] = {"new": object.__new__, "cls": cls, "NoneType": type(None)}
    lines = ["def decode(r):", f"    if type(r) is not list or len(r) != {len(names)}: return None", "    o = new(cls)"]
    for i, name in enumerate(names):
        hint = hints[name]
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        env[f"set{i}"] = getattr(cls, name).__set__
        lines.append(f"    v = r[{i}]")
        none_ok = " and v is not None" if optional else ""
        if isinstance(base, type) and issubclass(base, enum.Enum):
            env[f"m{i}"] = dict(base.__members__)
            lines.append(f"    if v is not None or {not optional}:")
            lines.append(f"        v = m{i}.get(v) if type(v) is str else None")
            lines.append("        if v is None: return None")
        elif base is float:
            lines.append(f"    if type(v) is not float and type(v) is not int{none_ok}: return None")
        elif base is int or base is str:
            lines.append(f"    if type(v) is not {base.__name__}{none_ok}: return None")
        elif typing.get_origin(base) is tuple:
            lines.append("    if type(v) is not list: return None")
            lines.append("    for x in v:")
            lines.append("        if type(x) is not str: return None")
            lines.append("    v = tuple(v)")
        elif typing.get_origin(base) is dict:
            lines.append("    if type(v) is not dict: return None")
            lines.append("    for k, x in v.items():")
            lines.append("        if type(k) is not str or (type(x) is not float and type(x) is not int): return None")
        else:  # pragma: no cover - every field type is handled above
            raise TypeError(f"no fast decoder for {cls.__name__}.{name}")
        lines.append(f"    set{i}(o, v)")
    lines.append("    return o")
    exec(compile("\n".join(lines), f"<decoder {cls.__name__}>", "exec"), env)
    return env["decode"]  # type: ignore[no-any-return]


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
    fast = layout.fast_decode
    out = []
    try:
        for r in records:
            e = fast(r)
            out.append(e if e is not None else layout.decode(r))
    except (ValueError, TypeError) as exc:
        raise DecodeError(tstr, str(exc)) from None
    return out


def record_encoder(cls: type[ev.EventBase]) -> Callable[[ev.EventBase], list[Any]]:
    """Field values of an event in wire order with enums by name (a payload record, unpacked)."""
    return _LAYOUTS[cls].encode


def group_by_topic(events: Iterable[ev.EventBase]) -> list[tuple[str, list[ev.EventBase]]]:
    """Batch consecutive events that share a topic (and type) into messages, keeping order."""
    out: list[tuple[str, list[ev.EventBase]]] = []
    for e in events:
        t = topic_of(e)
        if out and out[-1][0] == t and type(out[-1][1][0]) is type(e):
            out[-1][1].append(e)
        else:
            out.append((t, [e]))
    return out


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
