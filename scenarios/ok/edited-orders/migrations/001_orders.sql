CREATE TABLE IF NOT EXISTS orders (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL,
    total_cents bigint NOT NULL,
    currency    text NOT NULL DEFAULT 'EUR'
);
-- Databases deployed before currency existed keep their orders table:
-- give it the column before the index uses it.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text NOT NULL DEFAULT 'EUR';
CREATE INDEX IF NOT EXISTS idx_orders_currency ON orders (currency);
