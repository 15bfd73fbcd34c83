-- migrate:up
ALTER TABLE customers ADD COLUMN IF NOT EXISTS phone text;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipped_at timestamptz;

-- migrate:down
ALTER TABLE orders DROP COLUMN IF EXISTS shipped_at;
ALTER TABLE customers DROP COLUMN IF EXISTS phone;
