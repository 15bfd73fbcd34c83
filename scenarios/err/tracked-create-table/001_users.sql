-- Fine for a tracked runner that runs it once; fails if it ever runs again
-- (a lost version table, a restored dump, a manual re-run).
CREATE TABLE users (
    id   bigserial PRIMARY KEY,
    name text NOT NULL
);
