-- Written on a branch that was merged before the table's migration, so the
-- index now runs first and its table does not exist yet.
CREATE INDEX IF NOT EXISTS idx_orders_customer ON orders (customer_id);
