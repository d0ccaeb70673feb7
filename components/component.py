"""The logic half of every reactive component (broker, strategy, recorder).

A component declares the topic prefixes it listens to and handles one message at a time (a list
of events of one type, e.g. all bars of a timestamp). What it emits is collected in an outbox that
whoever drives it (the in-process dispatcher or the process runtime) drains after each message and
publishes in order. No sockets, no threads: the same object runs in a test, in-process or in its
own process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.events import EventBase


class Component:
    """Base of plain-logic components; subclasses override `subscriptions` and `on_event`."""

    #: Name the component joins the bus under (unique within a run).
    component_id: str = ""
    #: A raw component gets undecoded payloads through `on_raw` in its own process (the recorder
    #: stores msgpack records as rows without building event objects); in-process it still gets
    #: `on_message`.
    wants_raw: bool = False
    #: Set by the process runtime before `stop()` when the orchestrator that started the process
    #: is gone: nobody will finish the run (the recorder then marks it failed itself).
    orphaned: bool = False

    def __init__(self) -> None:
        self._outbox: list[EventBase] = []

    def subscriptions(self) -> list[str]:
        """Topic prefixes (see components.codec) this component receives."""
        return []

    def start(self) -> None:
        """Called once before the first message (after joining the bus)."""

    def stop(self) -> None:
        """Called once after the last message (graceful end of the run)."""

    def on_message(self, topic: str, events: Sequence[EventBase]) -> None:
        """One delivered message; the default hands each event to `on_event`."""
        for event in events:
            self.on_event(event)

    def on_event(self, event: EventBase) -> None:
        """One delivered event."""

    def on_raw(self, topic: str, payload: bytes) -> None:
        """One delivered message, undecoded (only when `wants_raw`)."""

    def tick(self) -> None:
        """Called when no message arrived for a while (time-based work such as flushing)."""

    def confirmation(self) -> dict[str, Any] | None:
        """What the component confirms once stopped (the recorder: what it stored, and where);
        the process runtime leaves it in the run directory (bus/run_contract.py)."""
        return None

    def emit(self, event: EventBase) -> None:
        self._outbox.append(event)

    @property
    def queued_output(self) -> int:
        """How many emitted events wait for the next drain."""
        return len(self._outbox)

    def drain(self) -> list[EventBase]:
        """Everything emitted since the last drain, in emission order."""
        out, self._outbox = self._outbox, []
        return out
