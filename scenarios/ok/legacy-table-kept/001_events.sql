CREATE TABLE IF NOT EXISTS events (
    id      bigserial PRIMARY KEY,
    kind    text NOT NULL,
    payload jsonb
);
