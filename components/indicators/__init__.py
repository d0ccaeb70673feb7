"""Technical indicators: one float per bar per symbol, NaN while warming up.

    from components.indicators import SimpleMovingAverage

Every public subclass of `IndicatorBase` registers itself; `get_registered_indicators()` lists
them. Indicators are not thread-safe by design (one strategy per process, one thread per strategy).
"""

from components.indicators.base import IndicatorBase, get_registered_indicators
from components.indicators.bollinger import BollingerBandwidth, BollingerLower, BollingerUpper
from components.indicators.detrend import DetrendOscillator
from components.indicators.market_fields import Close, High, Low, Open, Volume
from components.indicators.moving_averages import SimpleMovingAverage
from components.indicators.parabolic_sar import ParabolicSAR
from components.indicators.period_extreme import PeriodExtreme
from components.indicators.roc import ROC
from components.indicators.rsi import RSI
from components.indicators.wilders import ADX, ATR, MinusDI, PlusDI

__all__ = [
    "IndicatorBase",
    "get_registered_indicators",
    "Open",
    "High",
    "Low",
    "Close",
    "Volume",
    "SimpleMovingAverage",
    "BollingerUpper",
    "BollingerLower",
    "BollingerBandwidth",
    "RSI",
    "ATR",
    "PlusDI",
    "MinusDI",
    "ADX",
    "ParabolicSAR",
    "ROC",
    "DetrendOscillator",
    "PeriodExtreme",
]
