-- Built without blocking writes to orders.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_idx ON orders (customer_id, placed_at);
