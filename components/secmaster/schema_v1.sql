-- tickbus secmaster, schema version 1.
--
-- Table for table, column for column the secmaster schema v1 of onesecondtrader, so a file built
-- by either system can be read by the other. symbol_coverage has the later (0.75) shape with
-- symbol_type in its key; the column has a default so writers of the older shape still work.
--
-- Prices in ohlcv are fixed point: price * 1e9 as an INTEGER (the Databento convention).
-- Timestamps are nanoseconds since the Unix epoch, UTC.
-- Symbology maps a symbol to a vendor instrument id for the UTC calendar dates
-- [start_date, end_date) (YYYY-MM-DD, half open); mappings of one symbol must not overlap.

CREATE TABLE publishers (
    publisher_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    dataset TEXT NOT NULL,
    venue TEXT,
    UNIQUE (name, dataset)
);

CREATE TABLE instruments (
    instrument_id INTEGER PRIMARY KEY,
    publisher_ref INTEGER NOT NULL,
    source_instrument_id INTEGER,
    symbol TEXT,
    symbol_type TEXT,
    FOREIGN KEY (publisher_ref) REFERENCES publishers(publisher_id),
    CHECK (source_instrument_id IS NOT NULL OR symbol IS NOT NULL),
    CHECK (symbol IS NULL OR symbol_type IS NOT NULL),
    UNIQUE (publisher_ref, source_instrument_id),
    UNIQUE (publisher_ref, symbol, symbol_type)
);

CREATE TABLE ohlcv (
    instrument_id INTEGER NOT NULL,
    rtype INTEGER NOT NULL CHECK (rtype IN (32, 33, 34, 35, 36)),
    ts_event INTEGER NOT NULL,
    open INTEGER NOT NULL,
    high INTEGER NOT NULL,
    low INTEGER NOT NULL,
    close INTEGER NOT NULL,
    volume INTEGER NOT NULL CHECK (volume >= 0),
    FOREIGN KEY (instrument_id) REFERENCES instruments(instrument_id),
    PRIMARY KEY (instrument_id, rtype, ts_event),
    CHECK (low <= high),
    CHECK (open BETWEEN low AND high),
    CHECK (close BETWEEN low AND high)
) WITHOUT ROWID;

CREATE TABLE symbology (
    publisher_ref INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    symbol_type TEXT NOT NULL,
    source_instrument_id INTEGER NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    FOREIGN KEY (publisher_ref) REFERENCES publishers(publisher_id),
    FOREIGN KEY (publisher_ref, source_instrument_id)
        REFERENCES instruments(publisher_ref, source_instrument_id),
    PRIMARY KEY (publisher_ref, symbol, symbol_type, start_date, source_instrument_id),
    CHECK (start_date <= end_date)
);

CREATE INDEX idx_symbology_symbol ON symbology(symbol);

CREATE TABLE symbol_coverage (
    publisher_id INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    symbol_type TEXT NOT NULL DEFAULT 'raw_symbol',
    rtype INTEGER NOT NULL,
    min_ts INTEGER NOT NULL,
    max_ts INTEGER NOT NULL,
    FOREIGN KEY (publisher_id) REFERENCES publishers(publisher_id),
    PRIMARY KEY (publisher_id, symbol, symbol_type, rtype)
);

PRAGMA user_version = 1;
