DROP VIEW IF EXISTS account_balances;
ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_credit_limit_nonnegative;
ALTER TABLE accounts DROP COLUMN IF EXISTS credit_limit_cents;
