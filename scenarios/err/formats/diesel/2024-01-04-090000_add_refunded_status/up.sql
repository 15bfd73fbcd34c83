ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded';

-- Refunds are listed by date for the monthly report.
CREATE INDEX IF NOT EXISTS orders_refunded_idx ON orders (placed_at) WHERE status = 'refunded';
