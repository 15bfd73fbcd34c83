CREATE TABLE IF NOT EXISTS balances (
    account_id bigint PRIMARY KEY REFERENCES accounts (id),
    cents      bigint NOT NULL DEFAULT 0
);
