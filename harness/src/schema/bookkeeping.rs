//! The migration runners' own tables. They record which versions ran; the
//! set's schema and data are everything else. Diffs ([`super::diff`]) and
//! the row comparisons of `data` leave them out, so a down that leaves
//! diesel's table alone is not a residue; code whose point is the version
//! table compares it with [`super::diff_all`] and the rows themselves.

use super::{Object, ObjectKind};

/// The one list of version tables migcheck knows, by unqualified name.
pub const TABLES: [&str; 6] = [
    "__diesel_schema_migrations", // diesel
    "_sqlx_migrations",           // sqlx
    "schema_migrations",          // golang-migrate, dbmate
    "flyway_schema_history",      // Flyway
    "refinery_schema_history",    // refinery
    crate::runner::VERSION_TABLE, // migcheck's own tracked runner
];

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

    #[test]
    fn diffs_leave_version_tables_and_what_belongs_to_them_out() {
        let object = |kind, name: &str, attrs: &[(&str, &str)]| Object {
            kind,
            name: name.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let objects = [
            object(ObjectKind::Table, "public.__diesel_schema_migrations", &[]),
            object(
                ObjectKind::Column,
                "public.__diesel_schema_migrations.version",
                &[],
            ),
            object(
                ObjectKind::Constraint,
                "public.schema_migrations.schema_migrations_pkey",
                &[],
            ),
            object(
                ObjectKind::Index,
                "public.schema_migrations_pkey",
                &[("table", "public.schema_migrations")],
            ),
            object(
                ObjectKind::Sequence,
                "public.schema_migrations_id_seq",
                &[("owned_by", "public.schema_migrations.id")],
            ),
            object(ObjectKind::Table, "public.users", &[]),
        ];
        let right = super::super::Snapshot {
            objects: objects.into_iter().map(|o| (o.key(), o)).collect(),
        };
        let empty = super::super::Snapshot::default();
        let keys = |diff: super::super::Diff| -> Vec<String> {
            diff.changes.iter().map(|c| c.key().to_string()).collect()
        };
        assert_eq!(
            keys(super::super::diff(&empty, &right)),
            ["table public.users"]
        );
        assert_eq!(keys(super::super::diff_all(&empty, &right)).len(), 6);
    }
}
