SET LOCAL lock_timeout = '5s';
CREATE TABLE IF NOT EXISTS order_notes (
    id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders (id),
    body text
);
CREATE INDEX IF NOT EXISTS order_notes_order_id ON order_notes (order_id);
