-- The large table: narrow rows, a key, a unique column, and a child table
-- with a foreign key so that the loader has to order and fit its rows.
CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    balance bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    amount bigint NOT NULL
);
