//! Rows for the tables of a schema, respecting column types, keys and
//! foreign keys.
