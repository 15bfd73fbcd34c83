CREATE TABLE IF NOT EXISTS audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    happened_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS actor text NOT NULL DEFAULT 'system';
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS action text NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS detail jsonb NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS audit_log_happened_idx ON audit_log (happened_at);
