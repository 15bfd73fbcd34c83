-- safety-assured:start
DROP TABLE IF EXISTS cache_tags_backfills RESTRICT;
-- safety-assured:end
