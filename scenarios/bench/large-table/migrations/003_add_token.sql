-- A volatile default: every row needs its own value, the table is rewritten
-- under ACCESS EXCLUSIVE on every version.
ALTER TABLE accounts ADD COLUMN token uuid DEFAULT gen_random_uuid();
