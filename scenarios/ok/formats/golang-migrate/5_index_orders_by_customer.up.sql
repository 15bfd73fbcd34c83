-- golang-migrate has no marker for a migration that must run outside a
-- transaction: its driver sends the file as one query, and a file holding a
-- single statement runs outside any transaction block, so the index builds
-- concurrently as long as it is alone in its file.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_placed_idx ON orders (customer_id, placed_at DESC);
