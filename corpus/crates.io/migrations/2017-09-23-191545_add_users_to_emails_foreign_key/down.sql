ALTER TABLE emails DROP CONSTRAINT fk_emails_user_id;
