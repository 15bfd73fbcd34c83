ALTER TABLE versions
    ADD COLUMN checksum CHAR(64) NULL;
