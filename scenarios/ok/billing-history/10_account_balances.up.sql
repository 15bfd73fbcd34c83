CREATE OR REPLACE VIEW account_balances AS
    SELECT a.id AS account_id,
           coalesce((SELECT sum(i.total_cents) FROM invoices i WHERE i.account_id = a.id), 0)
         - coalesce((SELECT sum(p.amount_cents) FROM payments p
                     JOIN invoices i ON i.id = p.invoice_id WHERE i.account_id = a.id), 0) AS due_cents
    FROM accounts a;
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS credit_limit_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_credit_limit_nonnegative;
ALTER TABLE accounts ADD CONSTRAINT accounts_credit_limit_nonnegative CHECK (credit_limit_cents >= 0);
COMMENT ON VIEW account_balances IS 'What each account owes';
