"""SimulatedDatafeed: order, grouping, bounds, symbol filter, symbology dates, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import components.datafeed as datafeed_mod
from components import codec
from components.datafeed import DatafeedError, SimulatedDatafeed
from components.events import BarReceived
from components.models import BarPeriod
from components.sample_data import build_sample_secmaster
from components.secmaster import create_secmaster_db, import_csv

HEADER = "ts_event_ns,symbol,open,high,low,close,volume\n"
T0 = 1_704_196_800_000_000_000  # 2024-01-02T12:00:00Z
MIN = 60_000_000_000
DAY = 86_400 * 10**9


def feed(db: Path, **attrs: object) -> SimulatedDatafeed:
    attrs.setdefault("db_path", str(db))
    attrs.setdefault("publisher_name", "tickbus")
    attrs.setdefault("dataset", "SAMPLE")
    cls = type("Feed", (SimulatedDatafeed,), attrs)
    return cls()


def run(f: SimulatedDatafeed) -> list[list[BarReceived]]:
    f.open()
    try:
        return list(f.timestamps())
    finally:
        f.close()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_secmaster(tmp_path_factory.mktemp("feed") / "sample.db", symbols=3, bars=40)


@pytest.fixture
def ragged(tmp_path: Path) -> Path:
    """Symbols with different timestamps (gaps), imported unsorted."""
    rows = [
        (T0, "BBB", 2), (T0, "AAA", 1), (T0 + MIN, "AAA", 1), (T0 + 2 * MIN, "BBB", 2),
        (T0 + 2 * MIN, "CCC", 3), (T0 + 2 * MIN, "AAA", 1), (T0 + 3 * MIN, "CCC", 3),
    ]
    text = HEADER + "".join(f"{t},{s},{p},{p + 1},{p - 0.5},{p + 0.25},{p * 10}\n" for t, s, p in rows)
    csv = tmp_path / "r.csv"
    csv.write_text(text)
    db = tmp_path / "r.db"
    import_csv(csv, db, "tickbus", "SAMPLE")
    return db


def test_order_and_grouping(sample: Path) -> None:
    f = feed(sample)
    f.open()
    assert f.total_bars == 120 and f.bars_sent == 0 and f.progress == 0.0
    assert f.active_symbols == ["SYM000", "SYM001", "SYM002"]
    assert f.active_bar_period is BarPeriod.MINUTE
    groups = []
    for g in f.timestamps():
        groups.append(g)
        assert f.bars_sent == 3 * len(groups)
    assert f.progress == 1.0
    f.close()
    assert len(groups) == 40
    ts = [g[0].ts_event_ns for g in groups]
    assert ts == sorted(ts) and len(set(ts)) == 40 and ts[0] == T0 and ts[1] - ts[0] == MIN
    for g in groups:
        assert [b.symbol for b in g] == ["SYM000", "SYM001", "SYM002"]
        assert {b.ts_event_ns for b in g} == {g[0].ts_event_ns}
        assert len({b.ts_created_ns for b in g}) == 1 and g[0].ts_created_ns > 0
        for b in g:
            assert type(b) is BarReceived and b.bar_period is BarPeriod.MINUTE
            assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
            assert isinstance(b.volume, int) and isinstance(b.open, float)


def test_bars_equal_constructed_ones_and_round_trip_the_codec(sample: Path) -> None:
    group = run(feed(sample))[5]
    for b in group:
        built = BarReceived(ts_event_ns=b.ts_event_ns, ts_created_ns=b.ts_created_ns, symbol=b.symbol,
                            bar_period=b.bar_period, open=b.open, high=b.high, low=b.low,
                            close=b.close, volume=b.volume)
        assert b == built and hash(b) == hash(built) and repr(b) == repr(built)
        with pytest.raises(AttributeError):
            b.open = 1.0  # type: ignore[misc]
    assert codec.decode(codec.FEED_TOPIC, codec.encode(group)) == group


def test_values_match_the_csv(ragged: Path) -> None:
    groups = run(feed(ragged))
    assert [[(b.ts_event_ns, b.symbol) for b in g] for g in groups] == [
        [(T0, "AAA"), (T0, "BBB")],
        [(T0 + MIN, "AAA")],
        [(T0 + 2 * MIN, "AAA"), (T0 + 2 * MIN, "BBB"), (T0 + 2 * MIN, "CCC")],
        [(T0 + 3 * MIN, "CCC")],
    ]
    b = groups[0][1]
    assert (b.open, b.high, b.low, b.close, b.volume) == (2.0, 3.0, 1.5, 2.25, 20)


def test_time_bounds_are_inclusive(sample: Path) -> None:
    groups = run(feed(sample, start_ts=T0 + 5 * MIN, end_ts=T0 + 9 * MIN))
    assert [g[0].ts_event_ns for g in groups] == [T0 + k * MIN for k in range(5, 10)]
    f = feed(sample, start_ts=T0 + 5 * MIN, end_ts=T0 + 9 * MIN)
    f.open()
    assert f.total_bars == 15
    f.close()
    assert len(run(feed(sample, start_ts=T0 + 39 * MIN))) == 1
    assert len(run(feed(sample, end_ts=T0))) == 1


def test_symbol_filter(sample: Path, ragged: Path) -> None:
    groups = run(feed(sample, symbols=["SYM002", "SYM000"]))
    assert all([b.symbol for b in g] == ["SYM000", "SYM002"] for g in groups)
    only_c = run(feed(ragged, symbols=["CCC"]))
    assert [[b.ts_event_ns for b in g] for g in only_c] == [[T0 + 2 * MIN], [T0 + 3 * MIN]]


def test_chunked_merge_gives_the_same_stream(ragged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More symbology rows than one compound SELECT takes: chunks are merged in Python."""
    def key(gs: list[list[BarReceived]]) -> list[list[tuple[object, ...]]]:
        return [[(b.ts_event_ns, b.symbol, b.open, b.volume) for b in g] for g in gs]

    whole = key(run(feed(ragged)))
    monkeypatch.setattr(datafeed_mod, "_MAX_UNION", 1)
    f = feed(ragged)
    f.open()
    assert len(f.queries()) == 3
    f.close()
    assert key(run(feed(ragged))) == whole


def test_query_uses_the_ohlcv_primary_key_and_no_sort(sample: Path) -> None:
    for symbols in (None, ["SYM001"]):
        f = feed(sample, symbols=symbols)
        f.open()
        plan = f.explain()
        f.close()
        assert any("USING PRIMARY KEY" in line for line in plan), plan
        assert not any("TEMP B-TREE" in line for line in plan), plan
        assert not any(line.startswith("SCAN") for line in plan), plan


def test_symbology_dates_decide_the_symbol(tmp_path: Path) -> None:
    """A symbol that maps to instrument 1 until 2024-01-03 and to instrument 2 from then:
    each instrument's bars count only on their own dates, as the seed's date() join does."""
    db = create_secmaster_db(tmp_path / "roll.db")
    c = sqlite3.connect(db)
    c.execute("INSERT INTO publishers VALUES (1, 'tickbus', 'SAMPLE', NULL)")
    c.execute("INSERT INTO instruments VALUES (10, 1, 501, NULL, NULL)")
    c.execute("INSERT INTO instruments VALUES (11, 1, 502, NULL, NULL)")
    c.execute("INSERT INTO symbology VALUES (1, 'ES', 'raw_symbol', 501, '2024-01-01', '2024-01-03')")
    c.execute("INSERT INTO symbology VALUES (1, 'ES', 'raw_symbol', 502, '2024-01-03', '2024-01-05')")
    c.execute("INSERT INTO symbology VALUES (1, 'NQ', 'raw_symbol', 502, '2024-01-01', '2024-01-02')")
    midnight = T0 - 12 * 3600 * 10**9 + DAY  # 2024-01-03T00:00Z
    for iid, p in ((10, 100), (11, 200)):
        for t in (T0, midnight - 1, midnight, midnight + DAY, midnight + 2 * DAY):
            c.execute("INSERT INTO ohlcv VALUES (?, 33, ?, ?, ?, ?, ?, 1)", (iid, t, p, p, p, p))
    c.execute("INSERT INTO ohlcv VALUES (11, 33, ?, 1, 1, 1, 1, 1)", (T0 - DAY,))  # 2024-01-01
    c.commit()
    got = [(b.ts_event_ns, b.symbol, b.open) for g in run(feed(db, price_scale=1.0)) for b in g]
    # The seed's query: a join on date(ts_event / 1e9, 'unixepoch').
    seed = c.execute(
        "SELECT o.ts_event, s.symbol, o.open FROM ohlcv o"
        " JOIN instruments i ON i.instrument_id = o.instrument_id"
        " JOIN symbology s ON s.publisher_ref = i.publisher_ref"
        "  AND s.source_instrument_id = i.source_instrument_id"
        "  AND date(o.ts_event / 1000000000, 'unixepoch') >= s.start_date"
        "  AND date(o.ts_event / 1000000000, 'unixepoch') < s.end_date"
        " WHERE i.publisher_ref = 1 AND s.symbol_type = 'raw_symbol' AND o.rtype IN (33)"
        " ORDER BY o.ts_event, s.symbol"
    ).fetchall()
    assert got == [(t, s, float(p)) for t, s, p in seed]
    assert got == [
        (T0 - DAY, "NQ", 1.0),
        (T0, "ES", 100.0),
        (midnight - 1, "ES", 100.0),
        (midnight, "ES", 200.0),
        (midnight + DAY, "ES", 200.0),
    ]


def test_several_periods_need_a_choice(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    for period in (BarPeriod.MINUTE, BarPeriod.DAY):
        csv = tmp_path / f"{period.name}.csv"
        csv.write_text(HEADER + f"{T0},AAA,1,1,1,1,1\n{T0 + DAY},AAA,2,2,2,2,2\n")
        import_csv(csv, db, "tickbus", "SAMPLE", bar_period=period)
    with pytest.raises(DatafeedError, match=r"several periods \(MINUTE, DAY\); set bar_period"):
        feed(db).open()
    day = run(feed(db, bar_period=BarPeriod.DAY))
    assert [g[0].bar_period for g in day] == [BarPeriod.DAY, BarPeriod.DAY]
    with pytest.raises(DatafeedError, match=r"no HOUR bars .*periods present: MINUTE, DAY"):
        feed(db, bar_period=BarPeriod.HOUR).open()


@pytest.mark.parametrize(
    "attrs, fragment",
    [
        ({"publisher_name": "nope"}, "no publisher 'nope' with dataset 'SAMPLE' (available publisher/dataset: tickbus/SAMPLE)"),
        ({"dataset": "X"}, "available publisher/dataset: tickbus/SAMPLE"),
        ({"publisher_name": ""}, "publisher_name and dataset must be set"),
        ({"symbol_type": "continuous"}, "no symbols of type 'continuous' (symbol types present: raw_symbol)"),
        ({"symbols": ["SYM001", "ZZZ"]}, "unknown symbol(s) for tickbus/SAMPLE (raw_symbol): ZZZ; available: SYM000, SYM001, SYM002"),
        ({"symbols": []}, "symbols is empty"),
        ({"symbols": "SYM000"}, "must be a list"),
        ({"start_ts": T0 + 100 * MIN}, "no bars for tickbus/SAMPLE (raw_symbol) in [2024-01-02T13:40:00Z"),
        ({"start_ts": T0 + 5, "end_ts": T0}, "is after end_ts"),
        ({"bar_period": BarPeriod.SECOND}, "no SECOND bars"),
    ],
)
def test_config_errors(sample: Path, attrs: dict[str, object], fragment: str) -> None:
    with pytest.raises(DatafeedError) as info:
        feed(sample, **attrs).open()
    assert fragment in str(info.value)


def test_database_errors(tmp_path: Path) -> None:
    missing = tmp_path / "absent.db"
    with pytest.raises(DatafeedError, match=f"{missing}: no such secmaster database"):
        feed(missing).open()
    assert not missing.exists()
    other = tmp_path / "runs.db"
    sqlite3.connect(other).execute("CREATE TABLE runs (x)").connection.commit()
    with pytest.raises(DatafeedError, match=f"{other}: not a secmaster database"):
        feed(other).open()
    with pytest.raises(RuntimeError, match="open"):
        next(feed(other).timestamps())


def test_db_path_falls_back_to_env(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMASTER_DB_PATH", str(sample))
    f = feed(sample, db_path="")
    assert f.resolved_db_path == str(sample)
    with f:
        assert f.total_bars == 120


def test_timestamps_stream_lazily(sample: Path) -> None:
    """The generator hands out the first group before reading the rest, and can be abandoned."""
    f = feed(sample)
    f.open()
    it = f.timestamps()
    first = next(it)
    assert len(first) == 3 and f.bars_sent == 3
    it.close()
    f.close()
