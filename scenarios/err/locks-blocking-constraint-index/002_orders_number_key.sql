SET LOCAL lock_timeout = '5s';
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_number_key,
    ADD CONSTRAINT orders_number_key UNIQUE (number);
