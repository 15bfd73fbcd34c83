-- The account support books phone orders under.
INSERT INTO customers (email, full_name) VALUES ('house@example.com', 'House account');
