-- Phone numbers for delivery notifications.
ALTER TABLE customers ADD COLUMN phone text;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipped_at timestamptz;
