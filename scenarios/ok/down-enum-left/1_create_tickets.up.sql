-- CREATE TYPE has no IF NOT EXISTS: create the enum only where it is missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_type WHERE typname = 'ticket_state') THEN
        CREATE TYPE ticket_state AS ENUM ('open', 'closed');
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS tickets (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL,
    state ticket_state NOT NULL DEFAULT 'open'
);
