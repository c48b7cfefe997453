-- One row per send of an order leg. A leg sent again with the same client order id (attempt 2,
-- 3, ...) gets a row of its own instead of overwriting the first, so a duplicate order shows
-- in the journal. Rows written before attempts were counted are the first send: attempt 1.
ALTER TABLE orders ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1 CHECK (attempt >= 1);
ALTER TABLE orders DROP CONSTRAINT orders_pkey;
ALTER TABLE orders ADD PRIMARY KEY (signal_id, broker, account, leg, attempt);
