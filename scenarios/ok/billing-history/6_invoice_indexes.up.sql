CREATE UNIQUE INDEX IF NOT EXISTS invoices_number_key ON invoices (number);
CREATE INDEX IF NOT EXISTS invoices_account_issued_idx ON invoices (account_id, issued_at DESC);
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_total_nonnegative;
ALTER TABLE invoices ADD CONSTRAINT invoices_total_nonnegative CHECK (total_cents >= 0);
COMMENT ON COLUMN invoices.number IS 'Printed on the invoice; never reused';
