"""The wire codec round-trips every event exactly and rejects what is not an event."""

from __future__ import annotations

import dataclasses
import enum
import math
import random
import types
import typing

import msgpack
import pytest

from components import codec
from components import events as ev

NASTY_STRINGS = ["A", "BRK.B", "ÄÖÜ-β", "日本株", "x" * 300, "emoji🚀", ""]
NASTY_FLOATS = [0.0, -0.0, 1e-300, 1e300, math.nan, math.inf, -math.inf, 123.456, 5e-324]
NASTY_INTS = [0, 1, -1, 2**63 - 1, -(2**63), 2**62, 1_704_196_800_000_000_000]


def _value(rng: random.Random, hint: typing.Any, name: str) -> typing.Any:
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    if type(None) in args and rng.random() < 0.3:
        return None
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return rng.choice(list(base))
    if base is float:
        return rng.choice(NASTY_FLOATS + [rng.uniform(-1e6, 1e6)])
    if base is int:
        return rng.choice(NASTY_INTS + [rng.randrange(-(2**63), 2**63)])
    if base is str:
        return rng.choice(NASTY_STRINGS) if name != "strategy_id" else rng.choice(["s1", "Strat-2", "β"])
    if typing.get_origin(base) is dict:
        return {rng.choice(NASTY_STRINGS) + str(i): rng.choice(NASTY_FLOATS) for i in range(rng.randrange(4))}
    raise AssertionError(f"no generator for {hint}")


def random_event(rng: random.Random, cls: type[ev.EventBase]) -> ev.EventBase:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _value(rng, hints[f.name], f.name) for f in dataclasses.fields(cls)}
    return cls(**kwargs)


@pytest.mark.parametrize("cls", ev.EVENT_TYPES, ids=lambda c: c.__name__)
def test_every_event_type_round_trips_exactly(cls: type[ev.EventBase]) -> None:
    rng = random.Random(cls.__name__)
    for _ in range(300):
        batch = [random_event(rng, cls) for _ in range(rng.randrange(1, 4))]
        decoded = codec.decode(codec.topic_of(batch[0]), codec.encode(batch))
        assert len(decoded) == len(batch)
        for a, b in zip(batch, decoded):
            assert codec.same_event(a, b), (a, b)
            # ints stay ints, floats stay floats, None stays None
            for f in dataclasses.fields(a):
                assert type(getattr(a, f.name)) is type(getattr(b, f.name))


def test_topics_end_every_segment_so_prefixes_do_not_overmatch() -> None:
    fill = random_event(random.Random(1), ev.FillEvent)
    fill = dataclasses.replace(fill, strategy_id="s10")
    assert codec.topic_of(fill) == "FillEvent.s10."
    assert not codec.topic_of(fill).startswith(codec.type_prefix(ev.FillEvent, "s1"))
    assert codec.topic_of(fill).startswith(codec.type_prefix(ev.FillEvent))
    bar = random_event(random.Random(2), ev.BarReceived)
    assert codec.topic_of(bar) == codec.FEED_TOPIC
    processed = dataclasses.replace(random_event(random.Random(3), ev.BarProcessed), strategy_id="a")
    assert not codec.topic_of(processed).startswith("BarReceived.")


@pytest.mark.parametrize(
    "topic, payload, reason",
    [
        ("NoSuchEvent.", msgpack.packb([[1]]), "unknown event type"),
        ("FillEvent.s.", b"\xc1garbage", "not msgpack"),
        ("FillEvent.s.", msgpack.packb({"a": 1}), "non-empty array"),
        ("FillEvent.s.", msgpack.packb([]), "non-empty array"),
        ("FillEvent.s.", msgpack.packb([[1, 2, 3]]), "array of 14 fields"),
        ("OrderRejected.s.", msgpack.packb([[1, 2, 3, "o", "s", "NOT_A_REASON", "m"]]), "rejection_reason"),
        ("BarReceived.feed.", msgpack.packb([[1, 2, "A", "MINUTE", "x", 1.0, 1.0, 1.0, None]]), "open"),
        (b"\xff\xfe", b"", "not UTF-8"),
    ],
)
def test_malformed_payloads_raise_decode_error_naming_topic_and_reason(topic: typing.Any, payload: bytes, reason: str) -> None:
    with pytest.raises(codec.DecodeError) as info:
        codec.decode(topic, payload)
    assert reason in str(info.value)
    assert "topic" in str(info.value)


def test_group_by_topic_batches_consecutive_events_in_order() -> None:
    rng = random.Random(5)
    bars = [random_event(rng, ev.BarReceived) for _ in range(3)]
    fill = dataclasses.replace(random_event(rng, ev.FillEvent), strategy_id="s")
    groups = codec.group_by_topic([bars[0], bars[1], fill, bars[2]])
    assert [(t, len(b)) for t, b in groups] == [(codec.FEED_TOPIC, 2), ("FillEvent.s.", 1), (codec.FEED_TOPIC, 1)]


def test_check_route_rejects_dots_and_whitespace() -> None:
    assert codec.check_route("ok-1") == "ok-1"
    for bad in ["", "a.b", "a b", "\t"]:
        with pytest.raises(ValueError):
            codec.check_route(bad)


def _reference_record(event: ev.EventBase) -> list[typing.Any]:
    """An event's wire record written out plainly: field values in order, enums by name."""
    return [v.name if isinstance(v, enum.Enum) else v for v in (getattr(event, f.name) for f in dataclasses.fields(event))]


@pytest.mark.parametrize("cls", ev.EVENT_TYPES, ids=lambda c: c.__name__)
def test_compiled_decoder_builds_the_keyword_constructed_event_and_names_a_bad_field(cls: type[ev.EventBase]) -> None:
    layout = codec._LAYOUTS[cls]
    rng = random.Random(f"fast-{cls.__name__}")
    for _ in range(200):
        event = random_event(rng, cls)
        decoded = layout.decode(_reference_record(event))
        assert codec.same_event(decoded, event) and decoded.ts_created_ns == event.ts_created_ns
        # corrupt one field: the decoder names it
        bad = _reference_record(event)
        i = rng.randrange(len(bad))
        bad[i] = object()
        with pytest.raises(ValueError, match=f"{cls.__name__}.{layout.names[i]}: unexpected value"):
            layout.decode(bad)


@pytest.mark.parametrize("cls", ev.EVENT_TYPES, ids=lambda c: c.__name__)
def test_compiled_encoder_writes_the_reference_record(cls: type[ev.EventBase]) -> None:
    layout = codec._LAYOUTS[cls]
    rng = random.Random(f"enc-{cls.__name__}")
    for _ in range(200):
        event = random_event(rng, cls)
        fast, reference = layout.encode(event), _reference_record(event)
        assert len(fast) == len(reference)
        for a, b in zip(fast, reference):
            assert a is b or a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def test_by_timestamp_splits_a_feed_message_in_order() -> None:
    from test_strategy_support import bar

    one = [bar("A", 1), bar("B", 1)]
    assert codec.by_timestamp(one) == [one]
    many = [bar("A", 1), bar("B", 1), bar("A", 2), bar("A", 3), bar("B", 3)]
    assert codec.by_timestamp(many) == [many[:2], many[2:3], many[3:]]
    assert codec.by_timestamp([]) == [[]]
