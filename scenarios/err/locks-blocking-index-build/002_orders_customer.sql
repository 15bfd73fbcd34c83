SET LOCAL lock_timeout = '5s';
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id);
