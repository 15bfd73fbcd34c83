-- Jobs gained chat_id when group chats arrived. Old databases already have a
-- jobs table without it, so CREATE TABLE IF NOT EXISTS does nothing there,
-- and the index below fails.
CREATE TABLE IF NOT EXISTS jobs (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    chat_id    bigint,
    payload    jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS idx_jobs_user_id ON jobs (user_id);
CREATE INDEX IF NOT EXISTS idx_jobs_chat_id ON jobs (chat_id);
