"""Example strategies; importing this package registers them (see get_registered_strategies)."""

from components.examples.rsi_mean_reversion import RSIMeanReversion
from components.examples.sma_crossover import SMACrossover

__all__ = ["SMACrossover", "RSIMeanReversion"]
