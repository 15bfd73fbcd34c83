CREATE SEQUENCE IF NOT EXISTS invoice_number_seq START 1000;
CREATE TABLE IF NOT EXISTS invoices (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id)
);
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS number bigint NOT NULL DEFAULT nextval('invoice_number_seq');
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS total_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS issued_at timestamptz NOT NULL DEFAULT now();
