//! What a fuzz finding rests on. A state the set itself can leave (a
//! version, a crash its runner allows, under `rerun-all` a table its
//! `CREATE TABLE IF NOT EXISTS` finds in an older shape) is evidence: the
//! finding is an error. A state only the fuzzer invented (a change by
//! hand, rows whose content no column type promises) is a premise: the
//! finding is a warning that says so, unless the scenario says `fuzz:
//! strict`. Also what the set renames later, so that the consequences of a
//! hand-made change are excused under the names they end with.

use std::collections::HashSet;

use generators::legacy::{LegacyCase, Mutation};
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

use crate::migrations::MigrationSet;

/// What the set's statements say, read once per run.
#[derive(Debug, Default)]
pub struct Facts {
    /// Tables some migration creates with `CREATE TABLE IF NOT EXISTS`.
    guarded: HashSet<String>,
    /// `(migration index, rename)`, in order.
    renames: Vec<(usize, Rename)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rename {
    Table {
        from: String,
        to: String,
    },
    Column {
        table: String,
        from: String,
        to: String,
    },
}

impl Facts {
    pub fn read(set: &MigrationSet) -> Facts {
        let mut facts = Facts::default();
        for (index, migration) in set.migrations.iter().enumerate() {
            for statement in &migration.up.statements {
                // A statement the parser rejects says nothing here; the
                // server still runs it.
                let Ok(parsed) = pg_query::parse(&statement.sql) else {
                    continue;
                };
                for raw in &parsed.protobuf.stmts {
                    match raw.stmt.as_ref().and_then(|s| s.node.as_ref()) {
                        Some(NodeEnum::CreateStmt(s)) if s.if_not_exists => {
                            if let Some(r) = &s.relation {
                                facts.guarded.insert(r.relname.clone());
                            }
                        }
                        Some(NodeEnum::RenameStmt(s)) => {
                            let Some(r) = &s.relation else { continue };
                            let rename = match ObjectType::try_from(s.rename_type) {
                                Ok(ObjectType::ObjectTable) => Rename::Table {
                                    from: r.relname.clone(),
                                    to: s.newname.clone(),
                                },
                                Ok(ObjectType::ObjectColumn) => Rename::Column {
                                    table: r.relname.clone(),
                                    from: s.subname.clone(),
                                    to: s.newname.clone(),
                                },
                                _ => continue,
                            };
                            facts.renames.push((index, rename));
                        }
                        _ => {}
                    }
                }
            }
        }
        facts
    }

    /// The names `table.column` of a state at version `upto` has after
    /// the rest of the set ran, the first one included.
    pub fn names_after(&self, upto: usize, table: &str, column: &str) -> Vec<(String, String)> {
        let mut names = vec![(table.to_owned(), column.to_owned())];
        let (mut table, mut column) = (table.to_owned(), column.to_owned());
        for (_, rename) in self.renames.iter().filter(|(i, _)| *i >= upto) {
            match rename {
                Rename::Table { from, to } if *from == table => table = to.clone(),
                Rename::Column { table: t, from, to } if *t == table && *from == column => {
                    column = to.clone()
                }
                _ => continue,
            }
            names.push((table.clone(), column.clone()));
        }
        names
    }

    /// Whether the mutation makes a state the set itself can have been in:
    /// under `rerun-all`, a table the set creates with `IF NOT EXISTS`
    /// lacking a column (the generators drop only columns that a table's
    /// later versions add, never a key) is an older version of that table.
    fn own_past(&self, mutation: &Mutation, rerun_all: bool) -> bool {
        match mutation {
            Mutation::DropColumn { table, .. } => rerun_all && self.guarded.contains(table),
            _ => false,
        }
    }

    /// `case` without the changes by hand that are no evidence, when it
    /// has any: if it still fails the same way, the failure is evidence.
    pub fn evidence_only(&self, case: &LegacyCase, rerun_all: bool) -> Option<LegacyCase> {
        let mutations: Vec<Mutation> = case
            .mutations
            .iter()
            .filter(|m| self.own_past(m, rerun_all))
            .cloned()
            .collect();
        (mutations.len() < case.mutations.len()).then(|| LegacyCase {
            mutations,
            ..case.clone()
        })
    }

    /// The premise a failure of `case` rests on, to state in a warning;
    /// `None` when the case is evidence.
    pub fn premise(
        &self,
        case: &LegacyCase,
        sqlstate: Option<&str>,
        rerun_all: bool,
    ) -> Option<String> {
        let by_hand: Vec<String> = case
            .mutations
            .iter()
            .filter(|m| !self.own_past(m, rerun_all))
            .map(Mutation::describe)
            .collect();
        if !by_hand.is_empty() {
            return Some(format!(
                "if a database was changed by hand ({})",
                by_hand.join(", ")
            ));
        }
        let rows_only = !case.rows.is_empty()
            && sqlstate.is_some_and(crate::observe::seed::rests_on_generated_values);
        rows_only.then(|| "with rows the application may never write".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::Format;

    fn facts(files: &[(&str, &str)]) -> Facts {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, sql) in files {
            std::fs::write(dir.path().join(name), sql).expect("write");
        }
        let set = MigrationSet::load(dir.path(), Format::Plain).expect("set");
        Facts::read(&set)
    }

    fn case(mutations: Vec<Mutation>, rows: usize) -> LegacyCase {
        LegacyCase {
            upto: 1,
            midway: None,
            mutations,
            rows: (0..rows)
                .map(|_| generators::rows::Row {
                    table: "t".into(),
                    columns: vec!["a".into()],
                    values: vec!["'x'".into()],
                })
                .collect(),
        }
    }

    #[test]
    fn names_follow_later_renames_only() {
        let facts = facts(&[
            (
                "001_a.sql",
                "CREATE TABLE t (a int); ALTER TABLE t RENAME COLUMN a TO z;",
            ),
            (
                "002_b.sql",
                "ALTER TABLE t RENAME COLUMN a TO b; ALTER TABLE t RENAME TO u;",
            ),
        ]);
        let names = |upto| facts.names_after(upto, "t", "a");
        assert_eq!(
            names(1),
            [("t", "a"), ("t", "b"), ("u", "b")].map(|(t, c)| (t.to_owned(), c.to_owned()))
        );
        assert_eq!(names(0).len(), 3, "from 001 on, a becomes z, then u.z");
        assert_eq!(names(0)[1], ("t".to_owned(), "z".to_owned()));
    }

    #[test]
    fn only_the_sets_own_past_is_evidence() {
        let facts = facts(&[(
            "001_a.sql",
            "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, a text); CREATE TABLE v (a int);",
        )]);
        let drop = |table: &str| Mutation::DropColumn {
            table: table.into(),
            column: "a".into(),
        };
        let retype = Mutation::ChangeType {
            table: "t".into(),
            column: "a".into(),
            ty: "text".into(),
        };
        let premise =
            |case: LegacyCase, sqlstate, rerun_all| facts.premise(&case, sqlstate, rerun_all);
        assert_eq!(premise(case(vec![drop("t")], 0), None, true), None);
        assert_eq!(
            premise(case(vec![], 3), Some("23502"), true),
            None,
            "rows that fit their types"
        );
        assert!(
            premise(case(vec![drop("t")], 0), None, false).is_some(),
            "tracked: by hand"
        );
        assert!(
            premise(case(vec![drop("v")], 0), None, true).is_some(),
            "no IF NOT EXISTS"
        );
        let warned = premise(case(vec![drop("t"), retype], 0), None, true).expect("premise");
        assert!(
            warned.starts_with("if a database was changed by hand"),
            "{warned}"
        );
        assert_eq!(
            premise(case(vec![], 2), Some("22P02"), true).as_deref(),
            Some("with rows the application may never write")
        );
    }
}
