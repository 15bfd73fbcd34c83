-- Seeds defaults once: a rerun finds the key and leaves the row alone.
INSERT INTO settings (key, value) VALUES ('theme', 'dark')
ON CONFLICT (key) DO NOTHING;
