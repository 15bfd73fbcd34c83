ALTER TABLE customers ADD COLUMN IF NOT EXISTS name text;
-- Copy the names back before the column that holds them goes.
UPDATE customers SET name = full_name;
ALTER TABLE customers DROP COLUMN IF EXISTS full_name;
