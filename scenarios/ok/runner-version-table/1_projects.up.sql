CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
CREATE TABLE IF NOT EXISTS projects (id bigint PRIMARY KEY, name text NOT NULL);
