SET LOCAL lock_timeout = '5s';
-- integer to bigint changes every row's width: Postgres rewrites the table.
ALTER TABLE orders ALTER COLUMN total TYPE bigint;
