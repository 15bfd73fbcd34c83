DROP TABLE IF EXISTS tickets;
-- The enum goes with the table that needed it.
DROP TYPE IF EXISTS ticket_state;
