//! The rows a script says it changes: the tables its `DELETE`, `UPDATE`,
//! `TRUNCATE`, `MERGE` and `INSERT ... ON CONFLICT DO UPDATE` statements
//! name (in CTEs too). A migration that states such a change means it, so
//! `data-lost` does not count it as a loss. Statements inside DO blocks
//! and functions are not read.

use pg_query::NodeRef;
use pg_query::protobuf::{Node, OnConflictAction, RangeVar};

use super::Script;

/// One table a script writes rows of on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatedWrite {
    /// The schema, when the statement names one.
    pub schema: Option<String>,
    pub table: String,
    /// The columns an `UPDATE` sets; `None` for statements that delete or
    /// replace whole rows.
    pub columns: Option<Vec<String>>,
}

impl Script {
    /// Every table the script's statements change rows of by name.
    pub fn stated_writes(&self) -> Vec<StatedWrite> {
        let mut writes = Vec::new();
        for statement in &self.statements {
            // A statement the parser rejects states nothing it can read.
            let Ok(parsed) = pg_query::parse(&statement.sql) else {
                continue;
            };
            for (node, ..) in parsed.protobuf.nodes() {
                match node {
                    NodeRef::UpdateStmt(s) => {
                        let columns = s.target_list.iter().filter_map(target_name).collect();
                        writes.extend(write(s.relation.as_ref(), Some(columns)));
                    }
                    NodeRef::DeleteStmt(s) => writes.extend(write(s.relation.as_ref(), None)),
                    NodeRef::MergeStmt(s) => writes.extend(write(s.relation.as_ref(), None)),
                    NodeRef::InsertStmt(s)
                        if s.on_conflict_clause.as_ref().is_some_and(|c| {
                            c.action == OnConflictAction::OnconflictUpdate as i32
                        }) =>
                    {
                        writes.extend(write(s.relation.as_ref(), None));
                    }
                    NodeRef::TruncateStmt(s) => {
                        for relation in &s.relations {
                            if let Some(pg_query::NodeEnum::RangeVar(r)) = &relation.node {
                                writes.extend(write(Some(r), None));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        writes
    }
}

fn write(relation: Option<&RangeVar>, columns: Option<Vec<String>>) -> Option<StatedWrite> {
    let relation = relation?;
    Some(StatedWrite {
        schema: (!relation.schemaname.is_empty()).then(|| relation.schemaname.clone()),
        table: relation.relname.clone(),
        columns,
    })
}

/// The column an `UPDATE ... SET column = ...` target sets.
fn target_name(node: &Node) -> Option<String> {
    match &node.node {
        Some(pg_query::NodeEnum::ResTarget(t)) => Some(t.name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn check(sql: &str, expected: &str) {
        let script = Script::parse(Path::new("t.sql"), sql.to_string()).expect("test SQL parses");
        let actual: Vec<String> = script
            .stated_writes()
            .iter()
            .map(|w| {
                let table = match &w.schema {
                    Some(schema) => format!("{schema}.{}", w.table),
                    None => w.table.clone(),
                };
                match &w.columns {
                    Some(columns) => format!("{table}({})", columns.join(",")),
                    None => table,
                }
            })
            .collect();
        assert_eq!(actual.join(" "), expected);
    }

    #[test]
    fn names_the_tables_of_statements_that_change_rows() {
        check("DELETE FROM users WHERE gh_login IS NULL", "users");
        check(
            "UPDATE app.versions SET yanked = false, num = 1",
            "app.versions(yanked,num)",
        );
        check("TRUNCATE a, b", "a b");
        check(
            "WITH gone AS (DELETE FROM old RETURNING *) INSERT INTO archive SELECT * FROM gone",
            "old",
        );
        check(
            "INSERT INTO settings VALUES (1) ON CONFLICT (id) DO UPDATE SET v = 2",
            "settings",
        );
        // Inserting, or an upsert that does nothing, loses no row.
        check(
            "INSERT INTO settings VALUES (1) ON CONFLICT DO NOTHING; ALTER TABLE t DROP COLUMN c",
            "",
        );
    }
}
