-- The branch added its own status column. A database that deployed the
-- branch first keeps this default; IF NOT EXISTS hides the conflict.
ALTER TABLE users ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'new';
