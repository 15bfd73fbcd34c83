CREATE TABLE IF NOT EXISTS settings (
    id    serial PRIMARY KEY,
    key   text NOT NULL,
    value text NOT NULL
);
