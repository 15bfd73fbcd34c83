CREATE TABLE IF NOT EXISTS invoice_lines (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES invoices (id) ON DELETE CASCADE
);
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS description text NOT NULL DEFAULT '';
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS quantity integer NOT NULL DEFAULT 1;
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS unit_cents bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS invoice_lines_invoice_idx ON invoice_lines (invoice_id);
