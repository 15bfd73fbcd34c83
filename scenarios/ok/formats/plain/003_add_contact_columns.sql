ALTER TABLE customers ADD COLUMN IF NOT EXISTS phone text;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipped_at timestamptz;
