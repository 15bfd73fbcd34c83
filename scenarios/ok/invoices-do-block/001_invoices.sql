-- The table may already exist on old installations (it was created by hand
-- before migrations existed): only its creation is conditional, the index
-- is created on every path.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_tables
                   WHERE schemaname = 'public' AND tablename = 'invoices') THEN
        CREATE TABLE invoices (
            id        bigserial PRIMARY KEY,
            tenant_id bigint NOT NULL,
            status    text NOT NULL DEFAULT 'open',
            total     numeric(12, 2) NOT NULL
        );
    END IF;
END
$$;

CREATE INDEX IF NOT EXISTS idx_invoices_tenant_status ON invoices (tenant_id, status);
