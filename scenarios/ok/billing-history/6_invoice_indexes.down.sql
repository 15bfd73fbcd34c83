COMMENT ON COLUMN invoices.number IS NULL;
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_total_nonnegative;
DROP INDEX IF EXISTS invoices_account_issued_idx;
DROP INDEX IF EXISTS invoices_number_key;
