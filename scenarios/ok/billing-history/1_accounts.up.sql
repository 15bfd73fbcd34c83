CREATE TABLE IF NOT EXISTS accounts (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL
);
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS slug text;
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX IF NOT EXISTS accounts_slug_key ON accounts (slug);
COMMENT ON TABLE accounts IS 'Customers that are billed';
