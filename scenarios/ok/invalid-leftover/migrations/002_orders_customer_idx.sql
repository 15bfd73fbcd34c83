-- Built without blocking writes to orders. An interrupted build leaves an
-- INVALID index under this name; drop it so the build starts over.
DROP INDEX CONCURRENTLY IF EXISTS orders_customer_idx;
CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id, placed_at);
