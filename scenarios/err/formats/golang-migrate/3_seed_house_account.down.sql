DELETE FROM customers WHERE email = 'house@example.com';
