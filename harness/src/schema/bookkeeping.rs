//! The migration runners' own tables. They record which versions ran; the
//! set's schema and data are everything else. Diffs (`schema::diff`) and
//! the row comparisons of `data` leave them out, so a down that leaves
//! diesel's table alone is not a residue; code whose point is the version
//! table compares it with `schema::diff_all` and the rows themselves.

use super::{Object, ObjectKind};

/// The version tables migcheck knows, by unqualified name: one list,
/// the runner's.
pub const TABLES: &[&str] = crate::version_table::NAMES;

/// Whether `table` (`name`, `schema.name`, quoted or not) is a runner's
/// version table, in whatever schema.
pub fn is_bookkeeping(table: &str) -> bool {
    let name = table.rsplit('.').next().unwrap_or(table).trim_matches('"');
    TABLES.contains(&name)
}

/// Whether `object` is a version table or belongs to one: its columns,
/// constraints, indexes, triggers, policies and owned sequences.
pub(super) fn belongs(object: &Object) -> bool {
    // Names are `schema.table` and `schema.table.child`, unquoted.
    let table_of_child = |name: &str| name.split('.').nth(1).is_some_and(is_bookkeeping);
    match object.kind {
        ObjectKind::Table => is_bookkeeping(&object.name),
        ObjectKind::Column | ObjectKind::Constraint | ObjectKind::Trigger | ObjectKind::Policy => {
            table_of_child(&object.name)
        }
        ObjectKind::Index => object.attr("table").is_some_and(is_bookkeeping),
        ObjectKind::Sequence => object.attr("owned_by").is_some_and(table_of_child),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_schema_quoted_or_not() {
        for name in [
            "__diesel_schema_migrations",
            "public.schema_migrations",
            "app._sqlx_migrations",
            "\"public\".\"flyway_schema_history\"",
            "migcheck_migrations",
        ] {
            assert!(is_bookkeeping(name), "{name}");
        }
        for name in [
            "migrations",
            "public.schema_migrations_old",
            "schema_migrations.t",
        ] {
            assert!(!is_bookkeeping(name), "{name}");
        }
    }
}
