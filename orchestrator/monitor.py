"""`tickbus monitor`: a live view of a run's bus, and decoded messages as they pass.

Why it cannot slow a run: the view polls the bus's counters over the control endpoint about once
a second (the bus answers from counters it keeps anyway, between its own work), and `--follow`
listens on the tap, which the bus never waits for: a tap that cannot keep up (or is stopped)
loses messages at its high-water mark instead of holding anything back (bus/tap.py).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from bus import BusError, ControlClient, Tap
from components import codec
from components.secmaster.db import ns_to_iso
from orchestrator.locate import Target, format_age
from orchestrator.rundir import utc_now_iso

CLEAR = "\x1b[H\x1b[2J"


# --- one snapshot ----------------------------------------------------------------------------

def snapshot(target: Target, control: ControlClient, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bus's stats plus run progress and per-second rates (since `previous`, else averaged
    since the bus started)."""
    stats = control.stats()
    now = time.monotonic()
    progress = target.info.progress() if target.info else None
    if progress:
        sent, total, elapsed = progress.get("bars_sent", 0), progress.get("bars_total", 0), progress.get("elapsed_s", 0.0)
        rate = sent / elapsed if elapsed else 0.0
        progress = {**progress, "bars_per_s": round(rate, 1),
                    "eta_s": 0.0 if progress.get("done") else (round((total - sent) / rate, 1) if rate else None)}
    snap = {
        "run_id": target.run_id, "run_dir": target.info.run_dir if target.info else None, "bus": target.endpoints.members,
        "time": utc_now_iso(), "progress": progress, "rates": _rates(stats, now, previous), **stats,
    }
    snap["_t"] = now
    return snap


def _rates(stats: dict[str, Any], now: float, previous: dict[str, Any] | None) -> dict[str, Any]:
    if previous is not None:
        dt = max(now - previous["_t"], 1e-6)
        before_topics, before_rounds = previous["topics"], previous["barrier"]["rounds"]
        before_msgs = previous["messages"]
    else:
        dt = max(float(stats.get("uptime_s", 0.0)), 1e-6)
        before_topics, before_rounds, before_msgs = {}, 0, 0
    topics = {}
    for topic, t in stats["topics"].items():
        b = before_topics.get(topic, {"messages": 0, "bytes": 0})
        topics[topic] = {"messages_per_s": round((t["messages"] - b["messages"]) / dt, 1),
                         "bytes_per_s": round((t["bytes"] - b["bytes"]) / dt, 1)}
    return {
        "interval_s": round(dt, 3),
        "messages_per_s": round((stats["messages"] - before_msgs) / dt, 1),
        "rounds_per_s": round((stats["barrier"]["rounds"] - before_rounds) / dt, 1),
        "topics": topics,
    }


def public(snap: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snap.items() if not k.startswith("_")}


# --- rendering -------------------------------------------------------------------------------

def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"


def render(snap: dict[str, Any]) -> list[str]:
    """The terminal view of one snapshot."""
    r, b = snap["rates"], snap["barrier"]
    lines = [f"run {snap['run_id'] or '?'}   bus pid {snap.get('pid')} ({snap.get('transport')})   "
             f"up {format_age(snap.get('uptime_s', 0))}   {snap['time']}"]
    p = snap["progress"]
    if p:
        total = p.get("bars_total", 0)
        pct = 100.0 * p.get("bars_sent", 0) / total if total else 100.0
        eta = "done" if p.get("done") else (f"ETA {p['eta_s']:.0f} s" if p.get("eta_s") is not None else "ETA ?")
        lines.append(f"progress  {p.get('bars_sent', 0):,}/{total:,} bars ({pct:.1f}%)  {p['bars_per_s']:,.0f} bars/s  {eta}")
    else:
        lines.append("progress  (no replay yet)")
    lines.append(f"barrier   {r['rounds_per_s']:,.0f} rounds/s  p50 {b.get('p50_us', 0):,.0f} us  "
                 f"p99 {b.get('p99_us', 0):,.0f} us  waiting {b.get('waiting', 0)}")
    lost = ", ".join(f"{k} ({v})" for k, v in snap.get("lost_members", {}).items()) or "none"
    lines.append(f"malformed {snap.get('malformed', 0)}   refused {snap.get('refused', 0)}   "
                 f"dropped {snap.get('dropped', 0)}   taps {snap.get('taps', 0)}"
                 f"   lost {lost}" + (f"   FAILED: {snap['failed']}" if snap.get("failed") else ""))
    lines.append("")
    w = max([len("TOPIC")] + [len(t) for t in snap["topics"]])
    lines.append(f"{'TOPIC':<{w}} {'MSG/S':>9} {'BYTES/S':>12} {'MESSAGES':>11}")
    for topic, t in sorted(snap["topics"].items()):
        rt = r["topics"].get(topic, {"messages_per_s": 0.0, "bytes_per_s": 0.0})
        lines.append(f"{topic:<{w}} {rt['messages_per_s']:>9,.1f} {_bytes(rt['bytes_per_s']) + '/s':>12} {t['messages']:>11,}")
    lines.append("")
    w = max([len("MEMBER")] + [len(n) for n in snap["members"]])
    lines.append(f"{'MEMBER':<{w}} {'PENDING':>8} {'ACKED':>11} {'HB AGE':>8}  KIND")
    for name, m in snap["members"].items():
        kind = "trailing" if m.get("trailing") else ("tracked" if m.get("tracked") else "untracked")
        kind += "" if m.get("critical", True) else ", non-critical"
        kind += f", {m['admission']} attacher" if m.get("admission") in ("expected", "surprise") else ""
        lines.append(f"{name:<{w}} {m['pending']:>8,} {m['acknowledged']:>11,} {m['heartbeat_age_s']:>7.2f}s  {kind}")
    return lines


def format_event(topic: str, event: Any) -> str:
    """One line per event: market time, topic, then the fields that carry information."""
    parts = []
    for f in dataclasses.fields(event):
        if f.name.startswith("ts_"):  # market time leads the line; the rest is wall clock
            continue
        v = getattr(event, f.name)
        if v is None or v == {} or v == "":
            continue
        if isinstance(v, enum.Enum):
            v = v.name
        elif isinstance(v, float):
            v = "nan" if math.isnan(v) else f"{v:g}"
        elif isinstance(v, dict):
            v = ",".join(f"{k}:{x:g}" if isinstance(x, float) else f"{k}:{x}" for k, x in v.items())
        parts.append(f"{f.name}={v}")
    return f"{ns_to_iso(event.ts_event_ns)} {topic} " + " ".join(parts)


# --- loops -----------------------------------------------------------------------------------

def ended(target: Target, shown: bool, out: TextIO, err: TextIO) -> int:
    """How a monitor ends when the run's bus goes away: one line, and exit status 0 if it showed
    something first, 1 if the run ended before anything could be shown."""
    if shown:
        print(f"run {target.label} ended", file=out, flush=True)
        return 0
    print(f"tickbus monitor: run {target.label} ended before anything could be shown", file=err, flush=True)
    return 1


def watch(target: Target, *, interval: float = 1.0, once: bool = False, as_json: bool = False,
          out: TextIO = sys.stdout, err: TextIO = sys.stderr, clear: bool | None = None) -> int:
    """Refresh the view every `interval` s until the run ends (see `ended`) or Ctrl-C."""
    if clear is None:
        clear = out.isatty() and not as_json
    previous = None
    try:
        with ControlClient(target.endpoints, timeout=max(2.0, interval * 2)) as control:
            while True:
                snap = snapshot(target, control, previous)
                if as_json:
                    print(json.dumps(public(snap)), file=out, flush=True)
                else:
                    text = "\n".join(render(snap))
                    print((CLEAR if clear else "") + text + ("" if clear else "\n"), file=out, flush=True)
                if once:
                    return 0
                previous = snap
                time.sleep(interval)
    except BusError:  # the bus went away (BusLost), or its key with its run directory
        return ended(target, previous is not None, out, err)


def follow_prefixes(prefixes: Sequence[str]) -> list[str]:
    """`FillEvent` means the FillEvent topics: a prefix is cut at a segment boundary ('.'), so
    it never matches more than intended (FillEvent. does not match FillEventX.)."""
    return [p if (not p or p.endswith(".")) else p + "." for p in prefixes]


def follow(target: Target, prefixes: Sequence[str], *, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
           until: Callable[[], bool] = lambda: False) -> int:
    """Print each message matching `prefixes`, decoded, one line per event, as it passes, until
    the run ends (see `ended`; the line goes to `err`, the events' stream stays clean)."""
    listening = False
    try:
        with ControlClient(target.endpoints, timeout=2.0) as control:
            control.ping()  # the run is live: from here on, its end is the normal end
            listening = True
            alive_check = time.monotonic() + 2.0
            with Tap(target.endpoints, follow_prefixes(prefixes)) as tap:
                while not until():
                    for topic, payload in tap.recv(0.5):
                        try:
                            events = codec.decode(topic, payload)
                        except codec.DecodeError as exc:
                            print(f"tickbus monitor: {exc}", file=err, flush=True)
                            continue
                        for event in events:
                            print(format_event(topic, event), file=out)
                        out.flush()
                    if time.monotonic() > alive_check:  # leave once the run is over
                        alive_check = time.monotonic() + 2.0
                        control.ping()
    except BusError:
        return ended(target, listening, err, err)
    return 0
