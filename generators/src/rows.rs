//! Rows for the tables of a schema, respecting column types, keys and
//! foreign keys.

/// One row to insert: values as SQL literals, one per named column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub table: String,
    pub columns: Vec<String>,
    pub values: Vec<String>,
}
