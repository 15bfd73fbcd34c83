CREATE TABLE IF NOT EXISTS payments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES invoices (id)
);
ALTER TABLE payments ADD COLUMN IF NOT EXISTS amount_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN IF NOT EXISTS received_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE payments ADD COLUMN IF NOT EXISTS provider_ref text;
CREATE UNIQUE INDEX IF NOT EXISTS payments_provider_ref_key ON payments (provider_ref);
