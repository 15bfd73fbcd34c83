//! Row counts and content checksums of every user table, to see whether
//! running migrations changed the data. Reads only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio_postgres::Client;

use crate::schema::is_bookkeeping;

/// Per table ("schema.table"): row count and an md5 of the sorted rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableData {
    pub tables: BTreeMap<String, (i64, String)>,
}

/// A table whose rows differ between two observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChange {
    pub table: String,
    pub rows_before: Option<i64>,
    pub rows_after: Option<i64>,
}

impl TableData {
    pub async fn read(client: &Client) -> Result<TableData, tokio_postgres::Error> {
        let rows = client
            .query(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind = 'r'
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg\\_%'
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                   WHERE d.classid = 'pg_class'::regclass
                                     AND d.objid = c.oid AND d.deptype = 'e')
                 ORDER BY 1",
                &[],
            )
            .await?;
        let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        // Sorting the text of each row makes the checksum independent of
        // physical order, which a rerun may change.
        let each = crate::sql::query_each(
            client,
            names.iter().map(|table| {
                format!(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} t"
                )
            }),
        )
        .await?;
        // An aggregate without GROUP BY gives one row.
        let tables = names
            .into_iter()
            .zip(each)
            .map(|(table, rows)| (table, (rows[0].get(1), rows[0].get(2))))
            .collect();
        Ok(TableData { tables })
    }

    /// Tables present on both sides whose rows differ, the runners'
    /// version tables left out ([`crate::schema::is_bookkeeping`]).
    pub fn changes(&self, after: &TableData) -> Vec<DataChange> {
        self.tables
            .iter()
            .filter(|(table, _)| !is_bookkeeping(table))
            .filter_map(|(table, before)| {
                let now = after.tables.get(table)?;
                (now != before).then(|| DataChange {
                    table: table.clone(),
                    rows_before: Some(before.0),
                    rows_after: Some(now.0),
                })
            })
            .collect()
    }
}

/// The rows of every user table as text, column by column, to say which
/// rows a migration lost or changed. Meant for the few rows the rollback
/// check seeds, not for large tables: it reads every value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableRows {
    /// Shared: a step that leaves a table alone keeps the one read
    /// before, so the rollback walk's steps do not each hold a copy.
    pub tables: BTreeMap<String, Arc<Rows>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rows {
    /// Column names, in `attnum` order.
    pub columns: Vec<String>,
    /// One entry per row: the text of each column's value.
    pub values: Vec<Vec<Option<String>>>,
}

/// How [`TableRows::lost`] compares a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Skip,
    /// Every column but these.
    Without(Vec<String>),
}

/// Rows of a table that did not survive from one observation to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLoss {
    pub table: String,
    pub rows_before: usize,
    pub rows_after: usize,
    /// Rows before that have no equal row after (compared on the columns
    /// both sides have).
    pub changed: usize,
    /// The columns compared.
    pub columns: Vec<String>,
}

impl TableRows {
    pub async fn read(client: &Client) -> Result<TableRows, tokio_postgres::Error> {
        Ok(read_rows(client, None).await?.0)
    }
}

/// The rows of the tables whose OIDs `only` names (partitions stand for
/// their partitioned table), or of every table; with each table's OID.
async fn read_rows(
    client: &Client,
    only: Option<&BTreeSet<u32>>,
) -> Result<(TableRows, BTreeMap<u32, String>), tokio_postgres::Error> {
    // Two statements, not `$1 IS NULL OR ...`: that would read all of
    // pg_class for a step that touched one table.
    const LIST: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                array_agg(a.attname::text ORDER BY a.attnum), c.oid
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition {ONLY}
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\\_%'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_class'::regclass
                             AND d.objid = c.oid AND d.deptype = 'e')
         GROUP BY 1, 3 ORDER BY 1";
    let rows = match only {
        None => client.query(&LIST.replace("{ONLY}", ""), &[]).await?,
        Some(oids) => {
            let oids: Vec<u32> = oids.iter().copied().collect();
            let only = "AND c.oid = ANY(SELECT COALESCE(pg_partition_root(x), x)::oid
                                        FROM unnest($1::oid[]::regclass[]) x)";
            client
                .query(&LIST.replace("{ONLY}", only), &[&oids])
                .await?
        }
    };
    let listed: Vec<(String, Vec<String>, u32)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let each = crate::sql::query_each(
        client,
        listed.iter().map(|(table, columns, _)| {
            let values = columns
                .iter()
                .map(|c| format!("{}::text", crate::sql::ident(c)))
                .collect::<Vec<_>>()
                .join(", ");
            format!("SELECT ARRAY[{values}]::text[] FROM {table}")
        }),
    )
    .await?;
    let mut oids = BTreeMap::new();
    let tables = listed
        .into_iter()
        .zip(each)
        .map(|((table, columns, oid), rows)| {
            oids.insert(oid, table.clone());
            let values = rows.iter().map(|r| r.get(1)).collect();
            (table, Arc::new(Rows { columns, values }))
        })
        .collect();
    Ok((TableRows { tables }, oids))
}

/// [`TableRows`] with each table's OID, kept up to date by reading again
/// only the tables a step changed.
#[derive(Debug, Clone, Default)]
pub struct IndexedRows {
    pub rows: TableRows,
    oids: BTreeMap<u32, String>,
}

impl IndexedRows {
    pub async fn read(client: &Client) -> Result<IndexedRows, tokio_postgres::Error> {
        let (rows, oids) = read_rows(client, None).await?;
        Ok(IndexedRows { rows, oids })
    }

    /// These rows with the tables `changed` (by OID: dropped, made, or
    /// written; a partition for its partitioned table) read again.
    pub async fn refresh(
        &self,
        client: &Client,
        changed: &BTreeSet<u32>,
    ) -> Result<IndexedRows, tokio_postgres::Error> {
        if changed.is_empty() {
            return Ok(self.clone());
        }
        let mut kept = self.clone();
        // A partition's or dropped table's OID is not a key here; a
        // changed partition's table is read below, and put in again.
        for oid in changed {
            if let Some(table) = kept.oids.remove(oid) {
                kept.rows.tables.remove(&table);
            }
        }
        let (read, oids) = read_rows(client, Some(changed)).await?;
        for (oid, table) in oids {
            // A table renamed since: its old name goes.
            if let Some(old) = kept.oids.insert(oid, table.clone()) {
                kept.rows.tables.remove(&old);
            }
        }
        kept.rows.tables.extend(read.tables);
        Ok(kept)
    }
}

/// Per table (by OID, partitions included), the rows this transaction
/// inserted, updated and deleted so far, as the server counts them
/// (`pg_stat_xact_user_tables`, subtransactions and rolled-back work
/// included). A table whose counts moved was written; one whose counts
/// did not was not, except by `TRUNCATE`, which resets them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writes(BTreeMap<u32, [i64; 3]>);

impl Writes {
    pub async fn read(client: &Client) -> Result<Writes, tokio_postgres::Error> {
        let rows = client
            .query(
                "SELECT c.oid, pg_stat_get_xact_tuples_inserted(c.oid),
                        pg_stat_get_xact_tuples_updated(c.oid),
                        pg_stat_get_xact_tuples_deleted(c.oid)
                 FROM pg_class c WHERE c.oid >= 16384 AND c.relkind = 'r'",
                &[],
            )
            .await?;
        Ok(Writes(
            rows.iter()
                .map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3)]))
                .collect(),
        ))
    }

    /// The tables whose counts differ between `self` and `now`.
    pub fn changed(&self, now: &Writes) -> BTreeSet<u32> {
        let differs = |(oid, counts): (&u32, &[i64; 3]), other: &Writes| {
            (other.0.get(oid) != Some(counts)).then_some(*oid)
        };
        self.0
            .iter()
            .filter_map(|entry| differs(entry, now))
            .chain(now.0.iter().filter_map(|entry| differs(entry, self)))
            .collect()
    }
}

impl TableRows {
    /// For each table of `self` that `after` also has, the rows with no
    /// equal row in `after`, compared on the columns both sides have.
    /// `scope` says how each table is compared: `Skip` it, or leave some
    /// of its columns out. Version tables are never compared. Tables
    /// without such rows are left out.
    pub fn lost(&self, after: &TableRows, scope: impl Fn(&str) -> Scope) -> Vec<RowLoss> {
        let mut losses = Vec::new();
        for (table, before) in &self.tables {
            let Some(now) = after.tables.get(table).filter(|_| !is_bookkeeping(table)) else {
                continue;
            };
            let left_out = match scope(table) {
                Scope::Skip => continue,
                Scope::All => Vec::new(),
                Scope::Without(columns) => columns,
            };
            let columns: Vec<String> = before
                .columns
                .iter()
                .filter(|c| now.columns.contains(c) && !left_out.contains(c))
                .cloned()
                .collect();
            if columns.is_empty() && !left_out.is_empty() {
                // Every column left is one the migration sets itself.
                continue;
            }
            let project = |rows: &Rows| -> Vec<Vec<Option<String>>> {
                let at: Vec<usize> = columns
                    .iter()
                    .filter_map(|c| rows.columns.iter().position(|r| r == c))
                    .collect();
                let mut projected: Vec<Vec<Option<String>>> = rows
                    .values
                    .iter()
                    .map(|row| at.iter().map(|&i| row[i].clone()).collect())
                    .collect();
                projected.sort();
                projected
            };
            let (old, mut new) = (project(before), project(now));
            // A multiset difference: each row after matches at most one before.
            let mut changed = 0;
            for row in &old {
                match new.binary_search(row) {
                    Ok(i) => {
                        new.remove(i);
                    }
                    Err(_) => changed += 1,
                }
            }
            if changed > 0 {
                losses.push(RowLoss {
                    table: table.clone(),
                    rows_before: before.values.len(),
                    rows_after: now.values.len(),
                    changed,
                    columns,
                });
            }
        }
        losses
    }

    /// Rows in all tables.
    pub fn total(&self) -> usize {
        self.tables.values().map(|r| r.values.len()).sum()
    }
}

/// `schema` and `table` of a key of [`TableData`] or [`TableRows`]
/// (`quote_ident(schema) || '.' || quote_ident(table)`), unquoted.
pub fn unqualify(key: &str) -> (String, String) {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quoted = false;
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                part.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut part)),
            _ => part.push(c),
        }
    }
    parts.push(part);
    let table = parts.pop().unwrap_or_default();
    (parts.join("."), table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], rows: &[&[&str]]) -> TableRows {
        let rows = Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            values: rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| (*v != "NULL").then(|| v.to_string()))
                        .collect()
                })
                .collect(),
        };
        TableRows {
            tables: [("public.t".to_string(), Arc::new(rows))].into(),
        }
    }

    fn check(before: TableRows, after: TableRows, expected: &str) {
        check_scoped(before, after, Scope::All, expected);
    }

    fn check_scoped(before: TableRows, after: TableRows, scope: Scope, expected: &str) {
        let actual: Vec<String> = before
            .lost(&after, |_| scope.clone())
            .iter()
            .map(|l| {
                format!(
                    "{}: {} of {}->{} on {}",
                    l.table,
                    l.changed,
                    l.rows_before,
                    l.rows_after,
                    l.columns.join(",")
                )
            })
            .collect();
        assert_eq!(actual.join("; "), expected);
    }

    #[test]
    fn leaves_out_what_the_scope_and_version_tables_say() {
        let before = || table(&["id", "email"], &[&["1", "Ada@x"], &["2", "alan@x"]]);
        let lowered = || table(&["id", "email"], &[&["1", "ada@x"], &["2", "alan@x"]]);
        check_scoped(before(), lowered(), Scope::Skip, "");
        check_scoped(
            before(),
            lowered(),
            Scope::Without(vec!["email".into()]),
            "",
        );
        // The other columns are still compared.
        check_scoped(
            before(),
            table(&["id", "email"], &[&["1", "Ada@x"], &["3", "alan@x"]]),
            Scope::Without(vec!["email".into()]),
            "public.t: 1 of 2->2 on id",
        );
        let version_table = |rows: &[&[&str]]| TableRows {
            tables: [(
                "public.schema_migrations".to_string(),
                table(&["version"], rows)
                    .tables
                    .remove("public.t")
                    .expect("the helper names its table public.t"),
            )]
            .into(),
        };
        check(version_table(&[&["1"]]), version_table(&[&["2"]]), "");
    }

    #[test]
    fn unquotes_keys() {
        assert_eq!(unqualify("public.t"), ("public".into(), "t".into()));
        assert_eq!(
            unqualify("\"My.Schema\".\"a\"\"b\""),
            ("My.Schema".into(), "a\"b".into())
        );
    }

    #[test]
    fn counts_rows_lost_on_the_columns_both_sides_have() {
        let before = || table(&["id", "name"], &[&["1", "Ada"], &["2", "Alan"]]);
        // A new column and another row order change nothing.
        check(
            before(),
            table(
                &["id", "name", "x"],
                &[&["2", "Alan", "NULL"], &["1", "Ada", "7"]],
            ),
            "",
        );
        // A dropped column is not compared.
        check(before(), table(&["id"], &[&["1"], &["2"]]), "");
        // Values emptied by a down that re-adds the column.
        check(
            before(),
            table(&["id", "name"], &[&["1", "NULL"], &["2", "NULL"]]),
            "public.t: 2 of 2->2 on id,name",
        );
        // A deleted row; duplicates count once each.
        check(
            table(&["id"], &[&["1"], &["1"]]),
            table(&["id"], &[&["1"]]),
            "public.t: 1 of 2->1 on id",
        );
    }
}
