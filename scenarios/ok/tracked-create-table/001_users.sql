CREATE TABLE IF NOT EXISTS users (
    id   bigserial PRIMARY KEY,
    name text NOT NULL
);
