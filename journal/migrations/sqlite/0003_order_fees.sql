-- The SQLite twin of the PostgreSQL migration: the fee of a fill, as decimal text.
ALTER TABLE orders ADD COLUMN fee TEXT;
