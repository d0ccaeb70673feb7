"""`tickbus dashboard`: a local web front end of the orchestrator (needs the `dashboard` extra).

Configure and launch runs from forms generated from each strategy's ParamSpecs, watch them run
(progress and the bus's stats), cancel them, and read their results with charts. Parameter
sweeps too: launched from the same form (sweeplaunch.py, run by sweepworker.py as `tickbus
sweep` runs them), listed with their progress, each with its heatmap and variants table
(sweeps.py, sweepdata.py). Every run and sweep is real, in its own worker process; every asset
is served locally.
"""
