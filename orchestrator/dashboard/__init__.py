"""`tickbus dashboard`: a local web front end of the orchestrator (needs the `dashboard` extra).

Configure and launch runs from forms generated from each strategy's ParamSpecs, watch them run
(progress and the bus's stats), cancel them, and read their results with charts. Every run is a
real multi-process run in its own worker process; every asset is served locally.
"""
