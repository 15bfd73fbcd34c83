ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS data_version int;
CREATE TABLE IF NOT EXISTS repositories (id bigint PRIMARY KEY, name text NOT NULL);
