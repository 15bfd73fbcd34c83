-- migrate:up
-- CREATE TYPE has no IF NOT EXISTS: create the enum only where it is missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1
                   FROM pg_type t
                   JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'public' AND t.typname = 'order_status') THEN
        CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');
    END IF;
END
$$;

ALTER TABLE orders ADD COLUMN IF NOT EXISTS status order_status NOT NULL DEFAULT 'pending';

-- migrate:down
ALTER TABLE orders DROP COLUMN IF EXISTS status;
DROP TYPE IF EXISTS order_status;
