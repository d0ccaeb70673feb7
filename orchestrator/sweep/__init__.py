"""Parameter sweeps (`tickbus sweep`): a strategy over a grid of parameters, each variant an
ordinary run, on local worker processes or a Dask cluster.

  plan.py      the sweep checked before anything runs (settings, grid, data, shipments)
  grid.py      the grid's values against the ParamSpecs; where.py its --where filter
  shipping.py  what workers need from the driver's disk, by content (secmaster slice, strategy)
  worker.py    one variant on a worker: a run into a private runs.db, handed back as rows
  pool.py      local worker processes (localworker.py); cluster.py a Dask cluster
  driver.py    submit, merge as results arrive (store.py), faults, Ctrl-C; progress.py its line
"""
