-- A constant default: since PostgreSQL 11 stored in the catalog, no rewrite.
ALTER TABLE accounts ADD COLUMN flag boolean DEFAULT false;
