-- Guarded by the table: once invoices exists, the whole block is skipped.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_class WHERE relname = 'invoices' AND relkind = 'r') THEN
        CREATE TYPE invoice_status AS ENUM ('draft', 'sent', 'paid');
        CREATE TABLE invoices (
            id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            total  numeric(12, 2) NOT NULL,
            status invoice_status NOT NULL DEFAULT 'draft'
        );
    END IF;
END
$$;
