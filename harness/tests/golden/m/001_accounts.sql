-- a migration the golden reports point at
CREATE TABLE IF NOT EXISTS accounts (id int);
ALTER TABLE accounts ADD COLUMN email text;
