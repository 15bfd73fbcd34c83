SET lock_timeout = '5s';
DROP INDEX CONCURRENTLY IF EXISTS orders_customer;
CREATE INDEX CONCURRENTLY orders_customer ON orders (customer_id);
