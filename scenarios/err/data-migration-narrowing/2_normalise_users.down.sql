-- The old spellings are not kept; the type is put back.
ALTER TABLE users ALTER COLUMN karma TYPE numeric;
