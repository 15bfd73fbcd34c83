CREATE TABLE IF NOT EXISTS orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
    total       numeric(12, 2) NOT NULL CHECK (total >= 0),
    placed_at   timestamptz DEFAULT now()
);
