-- The latest signals are read newest first with a row lacking its received time last
-- (`ORDER BY received_at DESC NULLS LAST`: `tvctl trades`, the local dashboard). The first
-- index (ascending, nulls last) read backwards gives DESC NULLS FIRST only, so without this
-- one PostgreSQL sorts the whole table for every such read
-- (https://www.postgresql.org/docs/current/indexes-ordering.html). SQLite needs none: its
-- NULLs sort first, so last in a descending order, as the first index reads backwards.
CREATE INDEX IF NOT EXISTS signals_newest_first ON signals (received_at DESC NULLS LAST);
