//! Rows for the tables of a schema, respecting column types, keys and
//! foreign keys.
//!
//! A generated set of rows is made of picks (a seed each) resolved against
//! a schema: the seed chooses the table by rendezvous hashing and varies the
//! values, so the same picks still make sense against an earlier schema
//! while a failing case shrinks.
//!
//! How values are chosen:
//! - columns the database fills (identity, generated, `nextval(...)`
//!   defaults) are left out;
//! - key columns (primary key, unique constraint or index) take a value
//!   derived from the row's position in the case, and a row whose key
//!   repeats one of an earlier row of the case is dropped;
//! - a foreign key takes the key of a row of the parent table generated
//!   earlier in the case (rows come in foreign-key order). When that key is
//!   not a literal (the database filled it), the child reads it back with
//!   `(SELECT ref FROM parent ORDER BY ref DESC NULLS LAST LIMIT 1 OFFSET k)`,
//!   `k` counting back from the parent rows this case inserted last: any
//!   row it finds satisfies the key, whichever it is. With no parent row the
//!   key is NULL when it may be, else the row is dropped.

use std::collections::HashSet;

use proptest::prelude::*;

use crate::model::{Column, ConstraintKind, Schema, Table};
use crate::sql;
use crate::types;

/// One row to insert: values as SQL expressions (literals, `NULL`, or a
/// scalar subquery for a foreign key), one per named column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub table: String,
    pub columns: Vec<String>,
    pub values: Vec<String>,
}

impl Row {
    /// `INSERT INTO t (a, b) VALUES (1, 'x')`, or `INSERT INTO t DEFAULT
    /// VALUES` when the database fills every column; no trailing semicolon.
    pub fn sql(&self) -> String {
        if self.columns.is_empty() {
            format!("INSERT INTO {} DEFAULT VALUES", sql::ident(&self.table))
        } else {
            format!(
                "INSERT INTO {} ({}) VALUES ({})",
                sql::ident(&self.table),
                sql::idents(&self.columns),
                self.values.join(", ")
            )
        }
    }

    pub fn value(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .position(|c| c == column)
            .map(|i| self.values[i].as_str())
    }
}

/// 0..=6 rows for the tables of `schema`, in foreign-key order; none for a
/// schema without tables.
pub fn rows(schema: &Schema) -> BoxedStrategy<Vec<Row>> {
    let schema = schema.clone();
    picks()
        .prop_map(move |picks| resolve(&schema, &picks))
        .boxed()
}

/// The seeds of up to six rows; they shrink towards fewer rows.
pub(crate) fn picks() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(any::<u64>(), 0..=6)
}

/// The rows `picks` stand for in `schema`.
pub(crate) fn resolve(schema: &Schema, picks: &[u64]) -> Vec<Row> {
    let order = fk_order(schema);
    let mut chosen: Vec<(usize, u64)> = picks
        .iter()
        .filter_map(|&seed| {
            let table = types::choose(
                seed,
                schema
                    .tables
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.name.clone(), i)),
            )?;
            Some((order.iter().position(|&i| i == table)?, seed))
        })
        .collect();
    // Stable: rows of one table keep the order of their picks.
    chosen.sort_by_key(|&(rank, _)| rank);

    let mut made = Made::default();
    for (ordinal, (rank, seed)) in chosen.into_iter().enumerate() {
        let table = &schema.tables[order[rank]];
        if let Some(row) = row(schema, table, seed, ordinal as u64, &made) {
            made.add(table, row);
        }
    }
    made.rows
}

/// The rows made so far, and the keys they took.
#[derive(Default)]
struct Made {
    rows: Vec<Row>,
    keys: HashSet<(String, Vec<String>, Vec<String>)>,
}

impl Made {
    fn of<'m>(&'m self, table: &'m str) -> impl Iterator<Item = &'m Row> + 'm {
        self.rows.iter().filter(move |r| r.table == table)
    }

    fn add(&mut self, table: &Table, row: Row) {
        for key in row_keys(table, &row) {
            self.keys.insert(key);
        }
        self.rows.push(row);
    }
}

/// Tables in an order where a parent comes before its children; tables in
/// a cycle of foreign keys come last, in schema order.
fn fk_order(schema: &Schema) -> Vec<usize> {
    let parents = |t: &Table| -> Vec<usize> {
        t.constraints
            .iter()
            .filter_map(|c| match &c.kind {
                ConstraintKind::ForeignKey { table, .. } if *table != t.name => {
                    schema.tables.iter().position(|p| p.name == *table)
                }
                _ => None,
            })
            .collect()
    };
    let mut order = Vec::with_capacity(schema.tables.len());
    let mut placed = vec![false; schema.tables.len()];
    loop {
        let next = (0..schema.tables.len())
            .find(|&i| !placed[i] && parents(&schema.tables[i]).iter().all(|&p| placed[p]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => break,
        }
    }
    order.extend((0..schema.tables.len()).filter(|&i| !placed[i]));
    order
}

/// The column sets whose values must not repeat: primary key, unique
/// constraints, unique indexes on plain columns.
pub(crate) fn keys(table: &Table) -> Vec<&[String]> {
    let constraints = table.constraints.iter().filter_map(|c| match &c.kind {
        ConstraintKind::PrimaryKey { columns } | ConstraintKind::Unique { columns } => {
            Some(columns.as_slice())
        }
        _ => None,
    });
    let indexes = table
        .indexes
        .iter()
        .filter(|i| i.unique && !i.columns.is_empty())
        .map(|i| i.columns.as_slice());
    constraints.chain(indexes).collect()
}

/// The key values a row takes, for the keys where the row names every
/// column with a non-NULL value (NULLs never collide; the database's own
/// values are distinct by construction).
fn row_keys(table: &Table, row: &Row) -> Vec<(String, Vec<String>, Vec<String>)> {
    keys(table)
        .into_iter()
        .filter_map(|key| {
            let values = key
                .iter()
                .map(|c| row.value(c).filter(|v| *v != "NULL").map(str::to_owned))
                .collect::<Option<Vec<_>>>()?;
            Some((table.name.clone(), key.to_vec(), values))
        })
        .collect()
}

/// Whether the database fills the column when an INSERT leaves it out.
pub(crate) fn filled_by_database(column: &Column) -> bool {
    column.generated
        || column
            .default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("))
}

fn row(schema: &Schema, table: &Table, seed: u64, ordinal: u64, made: &Made) -> Option<Row> {
    let mut row = Row {
        table: table.name.clone(),
        columns: Vec::new(),
        values: Vec::new(),
    };
    let set = |row: &mut Row, column: &str, value: String| {
        row.columns.push(column.to_owned());
        row.values.push(value);
    };

    for (n, constraint) in table.constraints.iter().enumerate() {
        let ConstraintKind::ForeignKey {
            columns,
            table: parent,
            references,
        } = &constraint.kind
        else {
            continue;
        };
        let own: Vec<&Column> = columns.iter().filter_map(|c| table.column(c)).collect();
        if own.len() != columns.len() || references.len() != columns.len() {
            return None;
        }
        if own.iter().any(|c| filled_by_database(c)) {
            continue;
        }
        if columns.iter().any(|c| row.value(c).is_some()) {
            // Two foreign keys share a column: one value cannot be
            // promised to satisfy both.
            return None;
        }
        let parents: Vec<&Row> = made.of(parent).collect();
        let pick = types::mix(seed ^ (n as u64).wrapping_mul(0x100)) as usize;
        if schema.table(parent).is_some() && !parents.is_empty() {
            let at = pick % parents.len();
            let parent_row = parents[at];
            let literal: Option<Vec<&str>> = references
                .iter()
                .map(|r| parent_row.value(r).filter(|v| !v.starts_with('(')))
                .collect();
            match literal {
                Some(values) => {
                    for (c, v) in columns.iter().zip(values) {
                        set(&mut row, c, v.to_owned());
                    }
                }
                None => {
                    let order = references
                        .iter()
                        .map(|r| format!("{} DESC NULLS LAST", sql::ident(r)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let offset = parents.len() - 1 - at;
                    for (c, r) in columns.iter().zip(references) {
                        let query = format!(
                            "(SELECT {} FROM {} ORDER BY {order} LIMIT 1 OFFSET {offset})",
                            sql::ident(r),
                            sql::ident(parent)
                        );
                        set(&mut row, c, query);
                    }
                }
            }
        } else if own.iter().all(|c| !c.not_null) {
            for c in columns {
                set(&mut row, c, "NULL".to_owned());
            }
        } else {
            return None;
        }
    }

    let keyed: HashSet<&str> = keys(table)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    for (n, column) in table.columns.iter().enumerate() {
        if row.value(&column.name).is_some() || filled_by_database(column) {
            continue;
        }
        let key = keyed.contains(column.name.as_str());
        let mix = types::mix(seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9));
        let optional = !column.not_null || column.default.is_some();
        if optional && !key && mix.is_multiple_of(5) {
            continue;
        }
        // Distinct per row of the case for keys, and still spread by seed.
        let v = if key {
            100 * (ordinal + 1) + mix % 100
        } else {
            mix % 1000
        };
        match types::kind(schema, &column.ty).value(v) {
            Some(value) => set(&mut row, &column.name, value),
            None if optional => {}
            None => return None,
        }
    }

    let repeats = row_keys(table, &row)
        .into_iter()
        .any(|k| made.keys.contains(&k));
    (!repeats).then_some(row)
}
