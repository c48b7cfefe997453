-- The SQLite twin of the PostgreSQL schema. Decimals and times are TEXT (exact decimal
-- strings, RFC 3339 UTC), written and read through the same upserts.
CREATE TABLE IF NOT EXISTS signals (
    signal_id           TEXT PRIMARY KEY,
    raw                 TEXT NOT NULL,
    normalized          TEXT NOT NULL,
    symbol              TEXT NOT NULL,
    exchange            TEXT NOT NULL,
    action              TEXT NOT NULL,
    broker              TEXT,
    instrument          TEXT,
    contract_resolution TEXT,
    status              TEXT NOT NULL,
    reason              TEXT,
    received_at         TEXT,
    enqueued_at         TEXT,
    routed_at           TEXT,
    executor_start_at   TEXT,
    broker_sent_at      TEXT,
    broker_acked_at     TEXT,
    updated_at          TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS signals_received_at ON signals (received_at);

CREATE TABLE IF NOT EXISTS orders (
    signal_id       TEXT NOT NULL,
    broker          TEXT NOT NULL,
    account         TEXT NOT NULL,
    leg             TEXT NOT NULL,
    instrument      TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    broker_order_id TEXT,
    side            TEXT NOT NULL,
    quantity        TEXT NOT NULL,
    fill_price      TEXT,
    outcome         TEXT NOT NULL,
    error           TEXT,
    sent_at         TEXT,
    acked_at        TEXT,
    updated_at      TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (signal_id, broker, account, leg)
);
CREATE INDEX IF NOT EXISTS orders_instrument ON orders (instrument, acked_at);

CREATE TABLE IF NOT EXISTS replay_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    queue      TEXT NOT NULL,
    message_id TEXT NOT NULL,
    signal_id  TEXT,
    forced     INTEGER NOT NULL,
    dry_run    INTEGER NOT NULL,
    result     TEXT NOT NULL,
    operator   TEXT NOT NULL
);
