CREATE TABLE IF NOT EXISTS settings (
    id    serial PRIMARY KEY,
    key   text NOT NULL UNIQUE,
    value text NOT NULL
);
