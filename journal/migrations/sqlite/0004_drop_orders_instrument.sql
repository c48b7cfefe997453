-- No query of the journal reads orders by instrument (every read of `orders` goes by signal
-- id, through the primary key), and this index took each leg at a place set by its
-- instrument: one more page of its own for nearly every signal a commit writes, to the
-- write-ahead log and again at each checkpoint. The local journal's writes are what bound the
-- local stack's rate.
DROP INDEX IF EXISTS orders_instrument;
