-- Users of the bot.
CREATE TABLE IF NOT EXISTS users (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
