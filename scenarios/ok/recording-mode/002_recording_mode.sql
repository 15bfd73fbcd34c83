ALTER TABLE call_log ADD COLUMN IF NOT EXISTS recording_mode text NOT NULL DEFAULT 'off';
