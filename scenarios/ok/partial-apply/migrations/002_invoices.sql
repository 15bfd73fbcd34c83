-- "Already migrated?" is asked of the last object the migration creates:
-- once invoices exists, the type is there too.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_class WHERE relname = 'invoices' AND relkind = 'r') THEN
        CREATE TYPE invoice_status AS ENUM ('draft', 'sent', 'paid');
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS invoices (
    id     bigint PRIMARY KEY,
    total  numeric(12, 2) NOT NULL,
    status invoice_status NOT NULL DEFAULT 'draft'
);
