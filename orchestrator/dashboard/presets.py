"""presets.db: named symbol lists and the Chart view's display settings.

Symbol presets live in onesecondtrader's table (`symbol_presets`, as onesecondtrader 0.75 keeps it in its
presets.db), so both dashboards pointed at one file share them. Chart settings live in a table of
tickbus's own (`chart_settings`), one row per strategy set: runs of the same strategies share
their indicator placement, styles and bands. Settings are checked here, so what is stored is
always something the page can draw.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS symbol_presets (
        name TEXT PRIMARY KEY, rtype INTEGER NOT NULL, publisher_name TEXT NOT NULL, publisher_id INTEGER NOT NULL,
        symbols TEXT NOT NULL, symbol_type TEXT NOT NULL DEFAULT 'raw_symbol')""",
    "CREATE TABLE IF NOT EXISTS chart_settings (strategy_set TEXT PRIMARY KEY, config TEXT NOT NULL)",
)

CHART_TYPES = ("candlestick", "ohlc", "line")
STYLES = ("line", "dashed", "dotted", "dots", "histogram", "background")
COLORS = ("blue", "red", "green", "orange", "purple", "cyan", "magenta", "teal", "black", "gold")
WIDTHS = ("thin", "normal", "thick", "extra_thick")
MAX_PANEL = 20


class PresetError(ValueError):
    """A preset or a setting the dashboard refuses; the message names the field."""


class Presets:
    """One presets.db; every call opens its own short connection (pool threads call these)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            for ddl in SCHEMA:
                conn.execute(ddl)
            cols = {r[1] for r in conn.execute("PRAGMA table_info(symbol_presets)")}
            if "symbol_type" not in cols:  # a table onesecondtrader's 0.68 layout made
                conn.execute("ALTER TABLE symbol_presets ADD COLUMN symbol_type TEXT NOT NULL DEFAULT 'raw_symbol'")
            yield conn
        finally:
            conn.close()

    # --- symbol presets --------------------------------------------------------------------

    def symbol_presets(self) -> list[dict[str, Any]]:
        with self._db() as conn:
            rows = conn.execute(
                "SELECT name, rtype, publisher_name, publisher_id, symbols, symbol_type FROM symbol_presets ORDER BY name"
            ).fetchall()
        out = []
        for name, rtype, publisher, publisher_id, symbols, symbol_type in rows:
            try:
                listed = json.loads(symbols)
            except ValueError:
                listed = []
            out.append({"name": name, "rtype": rtype, "publisher_name": publisher, "publisher_id": publisher_id,
                        "symbols": [str(s) for s in listed] if isinstance(listed, list) else [],
                        "symbol_type": symbol_type})
        return out

    def save_symbol_preset(self, preset: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a preset (onesecondtrader's fields); returns what was stored."""
        name = str(preset.get("name") or "").strip()
        if not name:
            raise PresetError("name: give the preset a name")
        symbols = preset.get("symbols")
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) and s for s in symbols):
            raise PresetError("symbols: choose at least one symbol")
        try:
            rtype, publisher_id = int(preset["rtype"]), int(preset["publisher_id"])
        except (KeyError, TypeError, ValueError):
            raise PresetError("rtype and publisher_id must be numbers") from None
        stored = {"name": name, "rtype": rtype, "publisher_name": str(preset.get("publisher_name") or ""),
                  "publisher_id": publisher_id, "symbols": symbols, "symbol_type": str(preset.get("symbol_type") or "raw_symbol")}
        with self._db() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO symbol_presets (name, rtype, publisher_name, publisher_id, symbols, symbol_type)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, rtype, stored["publisher_name"], publisher_id, json.dumps(symbols), stored["symbol_type"]),
            )
        return stored

    def delete_symbol_preset(self, name: str) -> bool:
        with self._db() as conn:
            return conn.execute("DELETE FROM symbol_presets WHERE name = ?", (name,)).rowcount > 0

    # --- chart settings --------------------------------------------------------------------

    def chart_settings(self, strategy_set: str) -> dict[str, Any] | None:
        with self._db() as conn:
            row = conn.execute("SELECT config FROM chart_settings WHERE strategy_set = ?", (strategy_set,)).fetchone()
        if row is None:
            return None
        try:
            return check_chart_settings(json.loads(row[0]))
        except (ValueError, PresetError):
            return None  # written by something else: start from the defaults again

    def save_chart_settings(self, strategy_set: str, settings: Any) -> dict[str, Any]:
        clean = check_chart_settings(settings)
        with self._db() as conn:
            conn.execute("INSERT OR REPLACE INTO chart_settings (strategy_set, config) VALUES (?, ?)",
                         (strategy_set, json.dumps(clean)))
        return clean


def strategy_set(strategy_ids: list[str]) -> str:
    """The key runs of the same strategies share their chart settings under."""
    return ",".join(sorted(set(strategy_ids)))


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise PresetError(f"{what}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def check_chart_settings(data: Any) -> dict[str, Any]:
    """{chart_type, indicators: {key: {panel, below_price, style, color, width, visible}},
    fill_between: [{upper, lower, color, alpha}]}, every value checked."""
    if not isinstance(data, dict):
        raise PresetError("settings must be an object")
    out: dict[str, Any] = {"chart_type": _choice(data.get("chart_type", "candlestick"), CHART_TYPES, "chart_type"),
                           "indicators": {}, "fill_between": []}
    indicators = data.get("indicators") or {}
    if not isinstance(indicators, dict):
        raise PresetError("indicators must be an object")
    for key, cfg in indicators.items():
        if not isinstance(cfg, dict):
            raise PresetError(f"indicators[{key!r}] must be an object")
        panel = cfg.get("panel", 0)
        if not isinstance(panel, int) or isinstance(panel, bool) or not 0 <= panel <= MAX_PANEL:
            raise PresetError(f"indicators[{key!r}].panel: a whole number from 0 (the price pane) to {MAX_PANEL}")
        out["indicators"][str(key)] = {
            "panel": panel, "below_price": bool(cfg.get("below_price", True)),
            "style": _choice(cfg.get("style", "line"), STYLES, f"indicators[{key!r}].style"),
            "color": _choice(cfg.get("color", "blue"), COLORS, f"indicators[{key!r}].color"),
            "width": _choice(cfg.get("width", "normal"), WIDTHS, f"indicators[{key!r}].width"),
            "visible": bool(cfg.get("visible", True)),
        }
    bands = data.get("fill_between") or []
    if not isinstance(bands, list):
        raise PresetError("fill_between must be a list")
    for i, band in enumerate(bands):
        if not isinstance(band, dict) or not band.get("upper") or not band.get("lower"):
            raise PresetError(f"fill_between[{i}]: choose an upper and a lower series")
        alpha = band.get("alpha", 0.15)
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not math.isfinite(alpha) or not 0 <= alpha <= 1:
            raise PresetError(f"fill_between[{i}].alpha: a number from 0 to 1")
        out["fill_between"].append({"upper": str(band["upper"]), "lower": str(band["lower"]),
                                    "color": _choice(band.get("color", "blue"), COLORS, f"fill_between[{i}].color"),
                                    "alpha": float(alpha)})
    return out
