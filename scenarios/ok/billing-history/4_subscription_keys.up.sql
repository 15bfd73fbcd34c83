ALTER TABLE subscriptions DROP CONSTRAINT IF EXISTS subscriptions_account_id_fkey;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE subscriptions DROP CONSTRAINT IF EXISTS subscriptions_plan_id_fkey;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_plan_id_fkey
    FOREIGN KEY (plan_id) REFERENCES plans (id);
CREATE INDEX IF NOT EXISTS subscriptions_account_idx ON subscriptions (account_id);
