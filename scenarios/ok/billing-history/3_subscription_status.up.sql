DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_type WHERE typname = 'subscription_status') THEN
        CREATE TYPE subscription_status AS ENUM ('trialing', 'active', 'past_due', 'cancelled');
    END IF;
END
$$;
CREATE TABLE IF NOT EXISTS subscriptions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL
);
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS plan_id bigint;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS status subscription_status NOT NULL DEFAULT 'trialing';
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS started_at timestamptz NOT NULL DEFAULT now();
