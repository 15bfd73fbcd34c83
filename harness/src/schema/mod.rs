//! schema: reads a database's schema from `pg_catalog` into a normalised
//! [`Snapshot`], and diffs two snapshots.
//!
//! A snapshot is plain data: keyed objects with string attributes, holding
//! the values Postgres stores canonically (`format_type`, `pg_get_expr`,
//! `pg_get_*def`), so `int4` and `integer` compare equal and no OID ever
//! appears. Equal schemas give equal snapshots, equal renderings and equal
//! fingerprints.
//!
//! This module must not change a database ([`snapshot`] only reads) and must
//! not decide what a difference means: checks turn a [`Diff`] into findings.

mod bookkeeping;
mod diff;
mod snapshot;
mod units;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use bookkeeping::is_bookkeeping;
pub use diff::{Change, Diff, diff, diff_all};
pub use snapshot::{Prepared, QUERY_COUNT, ROUND_TRIPS, prepare, snapshot, snapshot_prepared};
pub use units::Indexed;

/// The schema of one database: every object under its key,
/// `"<kind> <qualified name>"`, e.g. `"table public.jobs"`,
/// `"column public.jobs.chat_id"`, `"constraint public.jobs.jobs_pkey"`,
/// `"function public.touch(integer, text)"`.
///
/// Names are the catalog's names joined with `.`, not quoted. Attribute
/// values that contain SQL (`definition`, `default`, ...) are what
/// Postgres prints for the session's `search_path`, so compare snapshots
/// taken with the same `search_path`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Shared (`Arc`): a snapshot read again in part
    /// ([`Indexed::refresh`]) keeps every object it did not read again.
    pub objects: BTreeMap<String, Arc<Object>>,
}

/// One schema object. `attrs` holds only what is set: an absent attribute
/// means "none" (no default, no identity, ...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Object {
    pub kind: ObjectKind,
    /// Qualified name: `schema.table`, `schema.table.column`,
    /// `schema.name(argument types)` for routines, the bare name for
    /// schemas and extensions.
    pub name: String,
    pub attrs: BTreeMap<String, String>,
}

impl Object {
    /// The object's key in [`Snapshot::objects`].
    pub fn key(&self) -> String {
        format!("{} {}", self.kind, self.name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    Schema,
    Extension,
    /// Ordinary and partitioned tables, partitions included.
    Table,
    Column,
    /// Table constraints; domain checks live on the domain.
    Constraint,
    Index,
    Sequence,
    View,
    MaterializedView,
    Enum,
    Domain,
    CompositeType,
    Function,
    Procedure,
    Trigger,
    Policy,
    /// Collations made with `CREATE COLLATION`.
    Collation,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 17] = [
        ObjectKind::Schema,
        ObjectKind::Extension,
        ObjectKind::Table,
        ObjectKind::Column,
        ObjectKind::Constraint,
        ObjectKind::Index,
        ObjectKind::Sequence,
        ObjectKind::View,
        ObjectKind::MaterializedView,
        ObjectKind::Enum,
        ObjectKind::Domain,
        ObjectKind::CompositeType,
        ObjectKind::Function,
        ObjectKind::Procedure,
        ObjectKind::Trigger,
        ObjectKind::Policy,
        ObjectKind::Collation,
    ];

    /// The lower-case words used in keys and in rendered text.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Schema => "schema",
            ObjectKind::Extension => "extension",
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Index => "index",
            ObjectKind::Sequence => "sequence",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Enum => "enum",
            ObjectKind::Domain => "domain",
            ObjectKind::CompositeType => "composite type",
            ObjectKind::Function => "function",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Policy => "policy",
            ObjectKind::Collation => "collation",
        }
    }

    /// The inverse of [`ObjectKind::as_str`].
    pub fn from_words(words: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == words)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Snapshot {
    /// Stable text: one block per object in key order, the key on the first
    /// line, then `  attr: value` lines in attribute order. A multi-line
    /// value goes on the lines after `  attr:`, each indented by four spaces.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (key, object) in &self.objects {
            out.push_str(key);
            out.push('\n');
            for (attr, value) in &object.attrs {
                out.push_str("  ");
                out.push_str(attr);
                out.push(':');
                if value.contains('\n') {
                    out.push('\n');
                    for line in value.lines() {
                        out.push_str("    ");
                        out.push_str(line);
                        out.push('\n');
                    }
                } else {
                    if !value.is_empty() {
                        out.push(' ');
                        out.push_str(value);
                    }
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Hex SHA-256 of [`Snapshot::render`]: equal schemas, equal fingerprints.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.render().as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex
    }

    pub fn get(&self, kind: ObjectKind, name: &str) -> Option<&Object> {
        self.objects.get(&format!("{kind} {name}")).map(|o| &**o)
    }

    /// Ordinary and partitioned tables, in key order.
    pub fn tables(&self) -> impl Iterator<Item = &Object> {
        self.objects
            .values()
            .map(|object| &**object)
            .filter(|object| object.kind == ObjectKind::Table)
    }

    /// `table` is `"jobs"` (meaning `public.jobs`) or `"schema.jobs"`.
    pub fn column(&self, table: &str, column: &str) -> Option<&Object> {
        self.get(ObjectKind::Column, &format!("{}.{column}", qualify(table)))
    }

    /// `table` is `"jobs"` (meaning `public.jobs`) or `"schema.jobs"`.
    pub fn has_table(&self, table: &str) -> bool {
        self.get(ObjectKind::Table, &qualify(table)).is_some()
    }

    /// `name` is `"idx_jobs_chat_id"` (in `public`) or `"schema.idx"`.
    pub fn has_index(&self, name: &str) -> bool {
        self.get(ObjectKind::Index, &qualify(name)).is_some()
    }
}

/// Names without a schema mean `public`, as unqualified names do for the
/// applications migcheck tests (default `search_path`).
fn qualify(name: &str) -> String {
    if name.contains('.') {
        name.to_owned()
    } else {
        format!("public.{name}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A catalog query failed; `message` is the server's message (with its
    /// SQLSTATE) or the client error, so there is no separate source.
    #[error("reading {what} from pg_catalog failed: {message}")]
    Query { what: &'static str, message: String },
    /// A catalog query returned something this module does not understand
    /// (a bug here, or a server version it does not know).
    #[error("reading {what} from pg_catalog returned an unexpected row: {detail}")]
    UnexpectedRow { what: &'static str, detail: String },
}
