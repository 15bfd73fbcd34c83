-- name becomes full_name: copy, then drop the old column (once).
ALTER TABLE customers ADD COLUMN IF NOT EXISTS full_name text;
DO $$
BEGIN
    IF EXISTS (SELECT FROM information_schema.columns
               WHERE table_name = 'customers' AND column_name = 'name') THEN
        UPDATE customers SET full_name = name;
        ALTER TABLE customers DROP COLUMN name;
    END IF;
END
$$;
