-- Postgres cannot drop an enum value; 'refunded' stays in order_status.
DROP INDEX IF EXISTS orders_refunded_idx;
