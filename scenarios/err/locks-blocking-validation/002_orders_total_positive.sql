SET LOCAL lock_timeout = '5s';
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_total_positive,
    ADD CONSTRAINT orders_total_positive CHECK (total >= 0);
