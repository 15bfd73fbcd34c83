CREATE OR REPLACE FUNCTION invoice_total(p_invoice bigint) RETURNS bigint
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(sum(quantity * unit_cents), 0) FROM invoice_lines WHERE invoice_id = p_invoice $$;
CREATE OR REPLACE FUNCTION refresh_invoice_total() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE invoices SET total_cents = invoice_total(NEW.invoice_id) WHERE id = NEW.invoice_id;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS invoice_lines_total ON invoice_lines;
CREATE TRIGGER invoice_lines_total AFTER INSERT OR UPDATE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION refresh_invoice_total();
UPDATE invoices SET total_cents = invoice_total(id);
