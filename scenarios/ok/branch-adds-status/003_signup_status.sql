-- The branch keeps its own column under its own name. Merge order only
-- changes where it sits among the columns (a warning, not an error).
ALTER TABLE users ADD COLUMN IF NOT EXISTS signup_status text NOT NULL DEFAULT 'new';
