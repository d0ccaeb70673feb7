-- tickbus runs database, schema version 2: onesecondtrader's runs.db layout (runs + one table per event
-- type, same table and column names) with a strategy_id column where events carry one, and
-- tickbus additions (runs.error, order_submissions.expires_at_ns). Tools written for onesecondtrader's
-- runs.db read it unchanged; a runs.db onesecondtrader made (version 1, without the additions) is
-- upgraded in place by adding them (recorder/runsdb.py).
PRAGMA user_version = 2;

CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    ts_start INTEGER NOT NULL,
    ts_end INTEGER,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    config TEXT,
    metadata TEXT,
    error TEXT
);

CREATE TABLE IF NOT EXISTS bars (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    bar_period TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume INTEGER
);
CREATE INDEX IF NOT EXISTS idx_bars_run_symbol_ts ON bars(run_id, symbol, ts_event_ns);

CREATE TABLE IF NOT EXISTS bars_processed (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    bar_period TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume INTEGER,
    indicators TEXT NOT NULL,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_bars_processed_run_symbol_ts ON bars_processed(run_id, symbol, ts_event_ns);

CREATE TABLE IF NOT EXISTS order_submissions (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    system_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    order_type TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    limit_price REAL,
    stop_price REAL,
    action TEXT,
    signal TEXT,
    strategy_id TEXT,
    expires_at_ns INTEGER
);
CREATE INDEX IF NOT EXISTS idx_order_submissions_run_ts ON order_submissions(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_order_submissions_order ON order_submissions(system_order_id);

CREATE TABLE IF NOT EXISTS order_cancellations (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    system_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_order_cancellations_run_ts ON order_cancellations(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_order_cancellations_order ON order_cancellations(system_order_id);

CREATE TABLE IF NOT EXISTS order_modifications (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    system_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    quantity REAL,
    limit_price REAL,
    stop_price REAL,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_order_modifications_run_ts ON order_modifications(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_order_modifications_order ON order_modifications(system_order_id);

CREATE TABLE IF NOT EXISTS orders_accepted (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_orders_accepted_run_ts ON orders_accepted(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_orders_accepted_order ON orders_accepted(associated_order_id);

CREATE TABLE IF NOT EXISTS orders_rejected (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    rejection_reason TEXT NOT NULL,
    rejection_message TEXT NOT NULL,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_orders_rejected_run_ts ON orders_rejected(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_orders_rejected_order ON orders_rejected(associated_order_id);

CREATE TABLE IF NOT EXISTS cancellations_accepted (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_cancellations_accepted_run_ts ON cancellations_accepted(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_cancellations_accepted_order ON cancellations_accepted(associated_order_id);

CREATE TABLE IF NOT EXISTS cancellations_rejected (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    rejection_reason TEXT NOT NULL,
    rejection_message TEXT NOT NULL,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_cancellations_rejected_run_ts ON cancellations_rejected(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_cancellations_rejected_order ON cancellations_rejected(associated_order_id);

CREATE TABLE IF NOT EXISTS modifications_accepted (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_modifications_accepted_run_ts ON modifications_accepted(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_modifications_accepted_order ON modifications_accepted(associated_order_id);

CREATE TABLE IF NOT EXISTS modifications_rejected (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    rejection_reason TEXT NOT NULL,
    rejection_message TEXT NOT NULL,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_modifications_rejected_run_ts ON modifications_rejected(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_modifications_rejected_order ON modifications_rejected(associated_order_id);

CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    symbol TEXT NOT NULL,
    fill_id TEXT NOT NULL,
    broker_fill_id TEXT,
    side TEXT NOT NULL,
    quantity_filled REAL NOT NULL,
    fill_price REAL NOT NULL,
    commission REAL NOT NULL,
    exchange TEXT NOT NULL,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_fills_run_ts ON fills(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_fills_run_symbol_ts ON fills(run_id, symbol, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_fills_order ON fills(associated_order_id);

CREATE TABLE IF NOT EXISTS expirations (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts_event_ns INTEGER NOT NULL,
    ts_created_ns INTEGER NOT NULL,
    ts_broker_ns INTEGER NOT NULL,
    associated_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    symbol TEXT NOT NULL,
    strategy_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_expirations_run_ts ON expirations(run_id, ts_event_ns);
CREATE INDEX IF NOT EXISTS idx_expirations_order ON expirations(associated_order_id);

-- A run's figures (recorder/metrics.py): one row for the run (strategy_id = '' and symbol = ''),
-- one per strategy (symbol = ''), one per (strategy, symbol) it traded. Written for every run
-- recorded without its bars (record level trades or summary) and for every sweep variant; `stats`
-- holds every figure of the scope as JSON (and, on the run's row, what the analysis saw of the bars).
CREATE TABLE IF NOT EXISTS run_metrics (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    strategy_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    net_pnl REAL,
    sharpe REAL,
    sortino REAL,
    max_drawdown REAL,
    max_drawdown_pct REAL,
    fills INTEGER,
    round_trips INTEGER,
    win_rate REAL,
    profit_factor REAL,
    exposure REAL,
    stats TEXT NOT NULL,
    PRIMARY KEY (run_id, strategy_id, symbol)
);

-- Parameter sweeps (`tickbus sweep`, orchestrator/sweep/): the sweep's settings, grid and status,
-- and one row per variant (a point of the grid) with the run that recorded it. A variant's
-- figures are its run's row of run_metrics. `phase` says what a variant row is: NULL for the
-- grid the sweep ranks (over its whole period, or the in-sample part with --holdout); 'oos' a
-- top variant run again on the held-out period; 'wf' a grid variant on walk-forward window
-- `wf_window`; 'wf_oos' a window's best variant run on the next window `wf_window`. `source` is the
-- variant an 'oos' or 'wf_oos' row runs again; `start_ns`/`end_ns` the bounds its run replays.
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    ts_start INTEGER NOT NULL,
    ts_end INTEGER,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    spec TEXT NOT NULL,
    variants INTEGER NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    metadata TEXT
);

CREATE TABLE IF NOT EXISTS sweep_variants (
    sweep_id TEXT NOT NULL REFERENCES sweeps(sweep_id) ON DELETE CASCADE,
    variant INTEGER NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    run_id TEXT,
    error TEXT,
    bars INTEGER,
    elapsed_s REAL,
    worker TEXT,
    phase TEXT,
    wf_window INTEGER,
    source INTEGER,
    start_ns INTEGER,
    end_ns INTEGER,
    PRIMARY KEY (sweep_id, variant)
);
CREATE INDEX IF NOT EXISTS idx_sweep_variants_run ON sweep_variants(run_id);
