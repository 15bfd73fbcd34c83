ALTER TABLE plans ADD COLUMN IF NOT EXISTS seat_limit integer;
UPDATE plans SET seat_limit = 3 WHERE code = 'free' AND seat_limit IS NULL;
ALTER TABLE plans DROP CONSTRAINT IF EXISTS plans_seat_limit_positive;
ALTER TABLE plans ADD CONSTRAINT plans_seat_limit_positive CHECK (seat_limit IS NULL OR seat_limit > 0);
CREATE INDEX IF NOT EXISTS plans_active_idx ON plans (code) WHERE active;
