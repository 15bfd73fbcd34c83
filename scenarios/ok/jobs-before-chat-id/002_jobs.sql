-- Jobs gained chat_id when group chats arrived. Old databases already have a
-- jobs table without it: add the column on its own before indexing it, and
-- keep it last so that old and new databases have the same column order.
CREATE TABLE IF NOT EXISTS jobs (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    payload    jsonb NOT NULL DEFAULT '{}',
    chat_id    bigint
);
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS payload jsonb NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id bigint;

CREATE INDEX IF NOT EXISTS idx_jobs_user_id ON jobs (user_id);
CREATE INDEX IF NOT EXISTS idx_jobs_chat_id ON jobs (chat_id);
