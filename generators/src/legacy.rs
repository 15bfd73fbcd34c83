//! Legacy states derived from a migration set's own history: the set
//! applied up to version k, optionally the first statements of the next
//! migration (a runner that died mid-migration), then changes made by hand
//! ([`Mutation`]) and rows ([`crate::rows::Row`]).
//!
//! [`cases`] is the proptest strategy; its value trees shrink towards fewer
//! mutations, fewer rows, no crash and an earlier version, which is what
//! makes a failing case small enough to commit as a scenario.

use crate::model::Schema;
use crate::rows::Row;

/// What the generators know of the set: the schema after each prefix and
/// the shape of each migration.
#[derive(Debug, Clone)]
pub struct History {
    /// `schemas[k]` is the schema with the first `k` migrations applied;
    /// `schemas.len() == migrations.len() + 1`.
    pub schemas: Vec<Schema>,
    pub migrations: Vec<MigrationShape>,
}

#[derive(Debug, Clone)]
pub struct MigrationShape {
    /// Statements in its up script.
    pub statements: usize,
    /// Whether a runner can die after some of its statements and leave
    /// them committed: the migration runs outside a transaction, or the
    /// runner commits each statement.
    pub can_stop_midway: bool,
}

/// One generated legacy state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyCase {
    /// Migrations applied, `0..=n`.
    pub upto: usize,
    /// The first `j` statements of migration `upto` (0-based, i.e. the
    /// next one) also applied: `1 <= j < its statement count`.
    pub midway: Option<usize>,
    pub mutations: Vec<Mutation>,
    pub rows: Vec<Row>,
}

/// A change made by hand to a database, outside the migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    DropTable {
        table: String,
    },
    DropColumn {
        table: String,
        column: String,
    },
    DropIndex {
        index: String,
    },
    DropConstraint {
        table: String,
        constraint: String,
    },
    /// A column the set does not know, named `extra_<n>`.
    AddColumn {
        table: String,
        column: String,
        ty: String,
    },
    /// An index the set does not know, named `extra_<n>_idx`.
    AddIndex {
        table: String,
        index: String,
        columns: Vec<String>,
    },
    ChangeType {
        table: String,
        column: String,
        ty: String,
    },
    /// `None` drops the default.
    ChangeDefault {
        table: String,
        column: String,
        default: Option<String>,
    },
    ChangeNullability {
        table: String,
        column: String,
        not_null: bool,
    },
    /// The index dropped and created again under the same name on other
    /// columns: an object of the same name, another definition.
    ReplaceIndex {
        table: String,
        index: String,
        columns: Vec<String>,
    },
}

/// What a mutation does to the objects it names, for judging the outcome:
/// a set is expected to restore what is missing (in rerun-all mode), not to
/// undo a hand-made change to what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Something of the set is missing.
    Removes,
    /// Something the set does not know is there.
    Adds,
    /// Something of the set is there, defined otherwise.
    Alters,
}
