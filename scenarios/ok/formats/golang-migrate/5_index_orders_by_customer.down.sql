DROP INDEX IF EXISTS orders_customer_placed_idx;
