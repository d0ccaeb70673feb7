"""Which runs.db table each event type lands in, and its columns.

Columns are `run_id` followed by the event's fields in dataclass order: the same order the wire
codec packs them in, so the recorder can insert decoded msgpack records without building event
objects.
"""

from __future__ import annotations

import dataclasses

from components import events as ev
from recorder.layout import keeps

TABLES: dict[type[ev.EventBase], str] = {
    ev.BarReceived: "bars",
    ev.BarProcessed: "bars_processed",
    ev.OrderSubmissionRequest: "order_submissions",
    ev.OrderCancellationRequest: "order_cancellations",
    ev.OrderModificationRequest: "order_modifications",
    ev.OrderAccepted: "orders_accepted",
    ev.OrderRejected: "orders_rejected",
    ev.ModificationAccepted: "modifications_accepted",
    ev.ModificationRejected: "modifications_rejected",
    ev.CancellationAccepted: "cancellations_accepted",
    ev.CancellationRejected: "cancellations_rejected",
    ev.FillEvent: "fills",
    ev.OrderExpired: "expirations",
}

def recorded(level: str) -> list[type[ev.EventBase]]:
    """The event types a run recorded at `level` (recorder/layout.py) stores."""
    return [cls for cls, table in TABLES.items() if keeps(level, table)]


# Fields that are not the same across two runs of the same inputs (wall clock, row ids).
WALL_CLOCK_COLUMNS = frozenset({"id", "run_id", "ts_created_ns"})


def columns(cls: type[ev.EventBase]) -> tuple[str, ...]:
    """Event fields in wire order (without run_id)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def insert_sql(cls: type[ev.EventBase], run_id: str | None = None) -> str:
    """The row insert; with `run_id` that column is a literal, so a row is just the event's fields."""
    cols = ("run_id",) + columns(cls)
    marks = ["?"] * len(cols)
    if run_id is not None:
        marks[0] = "'" + run_id.replace("'", "''") + "'"
    return f"INSERT INTO {TABLES[cls]} ({', '.join(cols)}) VALUES ({', '.join(marks)})"
