-- CONCURRENTLY takes SHARE UPDATE EXCLUSIVE: writes go on during the build.
CREATE INDEX CONCURRENTLY accounts_created_at_idx ON accounts (created_at);
