CREATE TABLE IF NOT EXISTS accounts (
    id    bigserial PRIMARY KEY,
    login text NOT NULL UNIQUE
);
