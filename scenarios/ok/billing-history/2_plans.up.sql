CREATE TABLE IF NOT EXISTS plans (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code text NOT NULL
);
ALTER TABLE plans ADD COLUMN IF NOT EXISTS monthly_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE plans ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;
CREATE UNIQUE INDEX IF NOT EXISTS plans_code_key ON plans (code);
INSERT INTO plans (code, monthly_cents) VALUES ('free', 0), ('pro', 2900)
    ON CONFLICT (code) DO NOTHING;
