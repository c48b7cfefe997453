-- Signals, order legs and the replay audit trail. Decimals are NUMERIC (exact), times are
-- timestamptz (UTC). Every write is an upsert on the natural key.
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
    received_at         TIMESTAMPTZ,
    enqueued_at         TIMESTAMPTZ,
    routed_at           TIMESTAMPTZ,
    executor_start_at   TIMESTAMPTZ,
    broker_sent_at      TIMESTAMPTZ,
    broker_acked_at     TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
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
    quantity        NUMERIC NOT NULL,
    fill_price      NUMERIC,
    outcome         TEXT NOT NULL,
    error           TEXT,
    sent_at         TIMESTAMPTZ,
    acked_at        TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (signal_id, broker, account, leg)
);
CREATE INDEX IF NOT EXISTS orders_instrument ON orders (instrument, acked_at);

CREATE TABLE IF NOT EXISTS replay_audit (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    queue      TEXT NOT NULL,
    message_id TEXT NOT NULL,
    signal_id  TEXT,
    forced     BOOLEAN NOT NULL,
    dry_run    BOOLEAN NOT NULL,
    result     TEXT NOT NULL,
    operator   TEXT NOT NULL
);
