SET LOCAL lock_timeout = '2s';
UPDATE users SET email = lower(email);
-- Rounds every fractional karma: a loss no statement states.
ALTER TABLE users ALTER COLUMN karma TYPE integer;
