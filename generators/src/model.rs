//! A schema as the generators see it: tables with their columns, indexes
//! and constraints, and enum types. Enough to derive plausible changes and
//! rows; everything else in a database is left to migcheck's snapshot.
//!
//! Names are unqualified identifiers in the schema `schema` (migcheck
//! only models one schema at a time, `public` by default); types and
//! defaults are the text Postgres prints (`format_type`, `pg_get_expr`).

/// The schema after some prefix of a migration set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: Vec<Table>,
    pub enums: Vec<EnumType>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
    pub constraints: Vec<Constraint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// As `format_type` prints it: `bigint`, `text`, `character varying(20)`,
    /// `timestamp with time zone`, `mood` (an enum of this schema).
    pub ty: String,
    pub not_null: bool,
    /// As `pg_get_expr` prints it, e.g. `nextval('jobs_id_seq'::regclass)`.
    pub default: Option<String>,
    /// An identity or generated column: the database fills it.
    pub generated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    /// The indexed columns; empty for an expression index.
    pub columns: Vec<String>,
    pub unique: bool,
    /// Backs a constraint (a primary key or unique constraint): dropped with
    /// the constraint, not on its own.
    pub constraint: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstraintKind {
    PrimaryKey {
        columns: Vec<String>,
    },
    Unique {
        columns: Vec<String>,
    },
    ForeignKey {
        columns: Vec<String>,
        table: String,
        references: Vec<String>,
    },
    /// `CHECK (...)`, exclusion constraints and anything else.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumType {
    pub name: String,
    pub labels: Vec<String>,
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn enum_type(&self, name: &str) -> Option<&EnumType> {
        self.enums.iter().find(|e| e.name == name)
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}
