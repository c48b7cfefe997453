-- The fee or commission the broker reported for a fill (Coinbase's total_fees), in the
-- instrument's quote currency; NULL when the broker reports none and for older rows.
ALTER TABLE orders ADD COLUMN fee NUMERIC;
