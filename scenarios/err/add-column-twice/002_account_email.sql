-- Every start of the application runs every file again: this fails the
-- second time, with "column already exists".
ALTER TABLE accounts ADD COLUMN email text;
