-- The SQLite twin of the PostgreSQL migration: one row per send of an order leg, existing
-- rows being attempt 1. SQLite cannot change a primary key in place, so the table is rebuilt
-- (inside the migration's transaction) and its index made again.
CREATE TABLE orders_with_attempts (
    signal_id       TEXT NOT NULL,
    broker          TEXT NOT NULL,
    account         TEXT NOT NULL,
    leg             TEXT NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
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
    PRIMARY KEY (signal_id, broker, account, leg, attempt)
);
INSERT INTO orders_with_attempts (signal_id, broker, account, leg, attempt, instrument,
    client_order_id, broker_order_id, side, quantity, fill_price, outcome, error, sent_at,
    acked_at, updated_at)
  SELECT signal_id, broker, account, leg, 1, instrument, client_order_id, broker_order_id, side,
    quantity, fill_price, outcome, error, sent_at, acked_at, updated_at
  FROM orders;
DROP TABLE orders;
ALTER TABLE orders_with_attempts RENAME TO orders;
CREATE INDEX IF NOT EXISTS orders_instrument ON orders (instrument, acked_at);
