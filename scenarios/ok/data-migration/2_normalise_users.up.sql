SET LOCAL lock_timeout = '2s';
UPDATE users SET email = lower(email);
DELETE FROM users WHERE gh_login IS NULL;
