"""The SMA-X benchmark's parts (scripts/bench.py): the engines that are not tickbus, and its own modules.

- `common`: CSV loading, strategy periods, fills files, the exact SMA-X reference (integer cents).
- `numpy_smax`: the vectorised numpy engine (run as a script, a whole process).
- `bt_smax`: the backtrader engine (run as a script; needs the `bench` extra).
- `proctree`, `model`, `report`: scripts/bench.py's whole-process runs (wall, peak RSS of the
  tree), its cases and outcomes with the comparison against the reference, and its table.

The runner scripts put `scripts/` on sys.path themselves, so `python scripts/bench_engines/X.py`
works from any directory.
"""
