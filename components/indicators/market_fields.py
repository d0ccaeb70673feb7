"""The five bar fields as indicators (a strategy's `bar.close[sym, -2]` history)."""

from __future__ import annotations

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase


class Open(IndicatorBase):
    @property
    def name(self) -> str:
        return "OPEN"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        return incoming_bar.open


class High(IndicatorBase):
    @property
    def name(self) -> str:
        return "HIGH"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        return incoming_bar.high


class Low(IndicatorBase):
    @property
    def name(self) -> str:
        return "LOW"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        return incoming_bar.low


class Close(IndicatorBase):
    @property
    def name(self) -> str:
        return "CLOSE"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        return incoming_bar.close


class Volume(IndicatorBase):
    """The bar volume as a float; NaN when the bar has no volume."""

    @property
    def name(self) -> str:
        return "VOLUME"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        volume = incoming_bar.volume
        return NAN if volume is None else float(volume)
