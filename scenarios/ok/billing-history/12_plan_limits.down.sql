DROP INDEX IF EXISTS plans_active_idx;
ALTER TABLE plans DROP CONSTRAINT IF EXISTS plans_seat_limit_positive;
ALTER TABLE plans DROP COLUMN IF EXISTS seat_limit;
