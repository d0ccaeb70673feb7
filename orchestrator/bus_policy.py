"""The run's bus policy (bus/policy.py): the run's own members, each critical and publishing only
its role's topics, and what attached strategies may do. The bus knows no trading; the roles do:
their topics come from the events and the codec (components/codec.py topic_of, type_prefix).

  datafeed   the feed (FEED_TOPIC)
  broker     its answers, fills and expirations to every strategy, and SyncReleased
  strategy   its own requests, BarProcessed, SyncClock and SyncRequest (route: its strategy id)
  recorder   nothing
  attacher   what a strategy publishes, under its own member name (its strategy id)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bus import run_contract as RC
from bus.policy import NAME
from bus.run_contract import write_atomic
from components import events as ev
from components.codec import FEED_TOPIC, type_prefix

DATAFEED, BROKER, RECORDER = "datafeed", "broker", "recorder"


def strategy_topics(strategy_id: str) -> list[str]:
    """What the strategy `strategy_id` publishes."""
    return [type_prefix(cls, strategy_id) for cls in (*ev.REQUEST_TYPES, ev.BarProcessed, ev.SyncClock, ev.SyncRequest)]


def broker_topics() -> list[str]:
    """What the broker publishes: answers for every strategy, and their releases."""
    return [type_prefix(cls) for cls in (*ev.RESPONSE_TYPES, ev.SyncReleased)]


def run_policy(strategy_ids: Sequence[str], *, expect_attach: int, on_attach_loss: str) -> dict[str, Any]:
    """The policy of a run of these strategies (the datafeed, broker and recorder are its own too)."""
    own = {DATAFEED: [FEED_TOPIC], BROKER: broker_topics(), RECORDER: []}
    own.update({sid: strategy_topics(sid) for sid in strategy_ids})
    return {
        "members": {name: {"critical": True, "publish": topics} for name, topics in own.items()},
        "attachers": {"expected": int(expect_attach), "on_loss": on_attach_loss, "publish": strategy_topics(NAME)},
    }


def write_policy(run_dir: Path, policy: dict[str, Any]) -> Path:
    """policy.json in the run directory (what `python -m bus --policy` reads)."""
    path = Path(run_dir) / RC.POLICY_FILE
    write_atomic(path, json.dumps(policy, indent=1) + "\n")
    return path
