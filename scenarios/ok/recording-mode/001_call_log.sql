CREATE TABLE IF NOT EXISTS call_log (
    id         bigserial PRIMARY KEY,
    caller     text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);
