DROP TRIGGER IF EXISTS invoice_lines_total ON invoice_lines;
DROP FUNCTION IF EXISTS refresh_invoice_total();
DROP FUNCTION IF EXISTS invoice_total(bigint);
