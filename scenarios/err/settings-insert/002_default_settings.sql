-- Seeds a default. Nothing stops the second run from inserting it again:
-- settings has no unique key and the INSERT no conflict target.
INSERT INTO settings (key, value) VALUES ('theme', 'dark');
