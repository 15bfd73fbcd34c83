ALTER TABLE crate_owners DROP COLUMN email_notifications;
