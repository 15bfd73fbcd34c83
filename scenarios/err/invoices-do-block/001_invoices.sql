-- The table may already exist on old installations (it was created by hand
-- before migrations existed). The indexes were added to the same branch, so
-- those installations never get them.
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
        CREATE INDEX idx_invoices_tenant_status ON invoices (tenant_id, status);
    END IF;
END
$$;
