SET LOCAL lock_timeout = '5s';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS status text;
UPDATE orders SET status = 'new' WHERE status IS NULL;
