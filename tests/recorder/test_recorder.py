"""RunRecorder: rows per event type, batching, time-based flush, malformed frames dropped."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from components import codec
from components import events as ev
from components.models import BarPeriod, OrderType, TradeSide
from components.spec import configured
from recorder import recorder as rec_mod
from recorder import runsdb
from recorder.recorder import RunRecorder


def _recorder(tmp_path: Path) -> tuple[RunRecorder, Path, str]:
    db = tmp_path / "runs.db"
    conn = runsdb.connect(db)
    run_id = runsdb.create_run(conn, ["T"], {})
    conn.close()
    r = configured(RunRecorder, db_path=str(db), run_id=run_id)()
    r.start()
    return r, db, run_id


def _bar(i: int, sym: str = "A") -> ev.BarReceived:
    return ev.BarReceived(ts_event_ns=i, symbol=sym, bar_period=BarPeriod.MINUTE, open=1.0, high=2.0, low=0.5, close=1.5, volume=10)


def test_records_each_event_type_in_its_table(tmp_path: Path) -> None:
    r, db, run_id = _recorder(tmp_path)
    r.record([
        _bar(1),
        ev.BarProcessed(ts_event_ns=1, symbol="A", bar_period=BarPeriod.MINUTE, open=1.0, high=2.0, low=0.5,
                        close=1.5, strategy_id="s", indicators={"SMA_2_CLOSE": math.nan, "X": 2.0}),
        ev.OrderSubmissionRequest(ts_event_ns=1, system_order_id="s-1", symbol="A", strategy_id="s",
                                  order_type=OrderType.LIMIT, side=TradeSide.BUY, quantity=2.0, limit_price=1.0,
                                  expires_at_ns=5),
        ev.FillEvent(ts_event_ns=2, ts_broker_ns=2, associated_order_id="s-1", symbol="A", strategy_id="s",
                     fill_id="s-1-F", side=TradeSide.BUY, quantity_filled=2.0, fill_price=1.0, commission=0.5),
    ])
    r.stop()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT symbol, bar_period, close, volume FROM bars").fetchall() == [("A", "MINUTE", 1.5, 10)]
    (ind,) = conn.execute("SELECT indicators FROM bars_processed WHERE strategy_id='s'").fetchone()
    parsed = json.loads(ind)
    assert math.isnan(parsed["SMA_2_CLOSE"]) and parsed["X"] == 2.0
    assert conn.execute("SELECT order_type, side, expires_at_ns FROM order_submissions").fetchall() == [("LIMIT", "BUY", 5)]
    assert conn.execute("SELECT fill_id, side, strategy_id, run_id FROM fills").fetchall() == [("s-1-F", "BUY", "s", run_id)]


def test_buffers_until_batch_size_then_writes(tmp_path: Path) -> None:
    r, db, _ = _recorder(tmp_path)
    reader = sqlite3.connect(db)
    r.record([_bar(i) for i in range(rec_mod.BATCH_SIZE - 1)])
    assert reader.execute("SELECT COUNT(*) FROM bars").fetchone()[0] == 0
    r.record([_bar(10_000)])
    assert reader.execute("SELECT COUNT(*) FROM bars").fetchone()[0] == rec_mod.BATCH_SIZE
    r.stop()


def test_rows_in_blocks_and_singly_keep_arrival_order_across_both_paths(tmp_path: Path) -> None:
    """Multi-row INSERTs (whole blocks) and single rows (the rest) store every row in arrival
    order, whether it came decoded (in-process) or as a wire record."""
    r, db, _ = _recorder(tmp_path)
    r.record([_bar(i, "A") for i in range(300)])
    r.on_raw(codec.FEED_TOPIC, codec.encode([_bar(i, "B") for i in range(300, 650)]))
    r.record([_bar(i, "C") for i in range(650, 1000)])
    r.stop()
    rows = sqlite3.connect(db).execute("SELECT ts_event_ns, symbol FROM bars ORDER BY id").fetchall()
    assert rows == [(i, "A" if i < 300 else "B" if i < 650 else "C") for i in range(1000)]


def test_flushes_at_least_every_interval_on_tick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rec_mod, "FLUSH_INTERVAL_S", 0.05)
    r, db, _ = _recorder(tmp_path)
    reader = sqlite3.connect(db)
    r.record([_bar(1)])
    time.sleep(0.1)
    r.tick()
    assert reader.execute("SELECT COUNT(*) FROM bars").fetchone()[0] == 1
    r.stop()


def test_malformed_messages_are_counted_and_dropped(tmp_path: Path) -> None:
    r, db, _ = _recorder(tmp_path)
    r.on_raw("FillEvent.s.", b"\xc1\xc1")
    r.on_raw("FillEvent.s.", msgpack.packb([[1, 2]]))
    r.on_raw("Nope.", msgpack.packb([[1]]))
    r.on_raw(codec.FEED_TOPIC, codec.encode([_bar(3)]))
    r.stop()
    assert r.malformed == 3
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM bars").fetchone()[0] == 1


def test_an_event_of_another_strategy_than_its_topic_is_not_recorded(tmp_path: Path) -> None:
    r, db, _ = _recorder(tmp_path)
    own = ev.OrderCancellationRequest(ts_event_ns=1, system_order_id="s1-1", symbol="A", strategy_id="s1")
    spoof = ev.OrderCancellationRequest(ts_event_ns=1, system_order_id="s2-1", symbol="A", strategy_id="s2")
    r.on_raw("OrderCancellationRequest.s1.", codec.encode([own]))
    r.on_raw("OrderCancellationRequest.s1.", codec.encode([spoof]))
    r.stop()
    assert r.malformed == 1
    assert sqlite3.connect(db).execute("SELECT strategy_id FROM order_cancellations").fetchall() == [("s1",)]


def test_unknown_run_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    runsdb.connect(db).close()
    r = configured(RunRecorder, db_path=str(db), run_id="nope")()
    with pytest.raises(ValueError, match="not registered"):
        r.start()


def _processed(i: int, ind: dict[str, Any]) -> ev.BarProcessed:
    return ev.BarProcessed(ts_event_ns=i, ts_created_ns=i, symbol="A", bar_period=BarPeriod.MINUTE, open=1.0,
                           high=2.0, low=0.5, close=1.5, volume=3, strategy_id="s", indicators=ind)


def test_raw_and_decoded_paths_store_the_same_rows(tmp_path: Path) -> None:
    """Rows carry the run id from the INSERT and the indicators as json.dumps writes them."""
    inds: list[dict[str, Any]] = [{"SMA_2_CLOSE": math.nan, "X": 2.0}, {"SMA_2_CLOSE": 0.1, "X": -0.0}, {"n": 1, "t": None}, {}]
    events = [_processed(i, d) for i, d in enumerate(inds)]
    dbs = []
    for sub, feed in (("raw", "on_raw"), ("dec", "on_message")):
        (tmp_path / sub).mkdir()
        r, db, run_id = _recorder(tmp_path / sub)
        if feed == "on_raw":
            r.on_raw("BarProcessed.s.", codec.encode(events))
        else:
            r.on_message("BarProcessed.s.", events)
        r.stop()
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT DISTINCT run_id FROM bars_processed").fetchall() == [(run_id,)]
        dbs.append(conn.execute("SELECT * FROM bars_processed ORDER BY id").fetchall())
    strip = [[row[:1] + row[2:] for row in rows] for rows in dbs]  # run ids differ
    assert strip[0] == strip[1]
    assert [row[-2] for row in dbs[0]] == [json.dumps(d) for d in inds]


def test_run_id_with_a_quote_is_stored_verbatim(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    conn = runsdb.connect(db)
    conn.execute("INSERT INTO runs (run_id, name, ts_start, status) VALUES (?, 'x', 0, 'running')", ("it's'--",))
    conn.close()
    r = configured(RunRecorder, db_path=str(db), run_id="it's'--")()
    r.start()
    r.record([_bar(1)])
    r.stop()
    assert sqlite3.connect(db).execute("SELECT run_id FROM bars").fetchall() == [("it's'--",)]


def test_a_row_sqlite_cannot_store_is_dropped_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r, db, run_id = _recorder(tmp_path)
    r.on_raw(codec.FEED_TOPIC, codec.encode([_bar(1), _bar(2)]))
    good = codec.record_encoder(ev.BarReceived)(_bar(3))
    huge = list(good)
    huge[4] = [1.0, 2.0]  # a well-formed frame, but no column takes an array
    r.on_raw(codec.FEED_TOPIC, msgpack.packb([huge, good]))
    r.flush()
    conn = sqlite3.connect(db)
    assert [t for (t,) in conn.execute("SELECT ts_event_ns FROM bars WHERE run_id = ? ORDER BY ts_event_ns", (run_id,))] == [1, 2, 3]
    assert r.malformed == 1 and r.recorded == 3
    assert "dropped a BarReceived row" in capsys.readouterr().err
    r.on_raw(codec.FEED_TOPIC, codec.encode([_bar(4)]))  # and it goes on recording
    r.stop()
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM bars WHERE run_id = ?", (run_id,)).fetchone()[0] == 4
