//! Legacy states derived from a migration set's own history: the set
//! applied up to version k, optionally the first statements of the next
//! migration (a runner that died mid-migration), then changes made by hand
//! ([`Mutation`]) and rows ([`crate::rows::Row`]).
//!
//! [`cases`] is the proptest strategy; its value trees shrink towards fewer
//! mutations, fewer rows, no crash and an earlier version, which is what
//! makes a failing case small enough to commit as a scenario.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;

use crate::model::{Column, Constraint, ConstraintKind, Schema, Table};
use crate::rows::{self, Row};
use crate::sql;
use crate::types;

/// What the generators know of the set: the schema after each prefix and
/// the shape of each migration.
#[derive(Debug, Clone)]
pub struct History {
    /// `schemas[k]` is the schema with the first `k` migrations applied;
    /// `schemas.len() == migrations.len() + 1`.
    pub schemas: Vec<Schema>,
    pub migrations: Vec<MigrationShape>,
    /// Whether the runner runs every file again at each start, so that a
    /// set can restore what a database lacks. A tracked runner never runs a
    /// recorded migration again: nothing is dropped by hand then, since no
    /// set could be expected to bring it back.
    pub restores_missing: bool,
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
        /// The table the index is on (not needed by the statement).
        table: String,
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

/// How many kinds of [`Mutation`] a pick chooses from.
const KINDS: usize = 10;

/// Legacy states of `history`: any number of migrations applied, maybe
/// the start of the next one, 0..=3 changes by hand (none in about a
/// quarter of the cases) and 0..=6 rows.
///
/// Changes and rows are drawn as seeds and resolved against the schema at
/// `upto` when the case is built: a seed names its object by rendezvous
/// hashing, so it keeps naming it while `upto` shrinks or other changes go
/// away. A seed that finds nothing to change in that schema makes no
/// change. Value trees shrink towards fewer changes, fewer rows, no crash
/// and an earlier version, in that order.
pub fn cases(history: &History) -> BoxedStrategy<LegacyCase> {
    let history = Arc::new(history.clone());
    let last = history
        .migrations
        .len()
        .min(history.schemas.len().saturating_sub(1));
    (
        prop::collection::vec((0..KINDS, any::<u64>()), 0..=3),
        rows::picks(),
        prop::option::weighted(0.25, any::<Index>()),
        0..=last,
    )
        .prop_map(move |(picks, rows, midway, upto)| build(&history, upto, midway, &picks, &rows))
        .boxed()
}

fn build(
    history: &History,
    upto: usize,
    midway: Option<Index>,
    picks: &[(usize, u64)],
    row_picks: &[u64],
) -> LegacyCase {
    let empty = Schema::default();
    let original = history.schemas.get(upto).unwrap_or(&empty);
    let midway = midway.and_then(|at| {
        let shape = history.migrations.get(upto)?;
        (shape.can_stop_midway && shape.statements >= 2).then(|| 1 + at.index(shape.statements - 1))
    });
    let added_later = added_later(
        &history.schemas[..upto.min(history.schemas.len())],
        original,
    );
    let mut current = original.clone();
    let mut mutations = Vec::new();
    let mut next_extra = 0;
    for &(kind, seed) in picks {
        if !history.restores_missing && kind < DROPS {
            continue;
        }
        let choice = Choice {
            original,
            current: &current,
            added_later: &added_later,
        };
        if let Some(mutation) = mutation(choice, kind, seed, &mut next_extra) {
            mutation.apply(&mut current);
            mutations.push(mutation);
        }
    }
    // Rows for the schema as the changes left it, so they still fit, and
    // to the keys the changes dropped too: an idempotent set adds those
    // again, and no set can add a key its rows break.
    let rows = rows::resolve(&with_keys_of(original, &current), row_picks);
    LegacyCase {
        upto,
        midway,
        mutations,
        rows,
    }
}

/// Constraints of `schema` (as `table.constraint`) that an earlier version
/// of their table did not have: added by a statement of their own, which
/// an idempotent set runs again. A constraint that came with its table may
/// be declared inside `CREATE TABLE IF NOT EXISTS`, and no old database
/// lacks it, so dropping it would model a state that never existed.
fn added_later(earlier: &[Schema], schema: &Schema) -> Vec<String> {
    schema
        .tables
        .iter()
        .flat_map(|t| t.constraints.iter().map(move |c| (t, c)))
        .filter(|(t, c)| {
            earlier.iter().any(|old| {
                old.table(&t.name)
                    .is_some_and(|o| !o.constraints.iter().any(|oc| oc.name == c.name))
            })
        })
        .map(|(t, c)| format!("{}.{}", t.name, c.name))
        .collect()
}

/// Whether another table's foreign key points at `table`: dropping it
/// (CASCADE) would take that key along, a state no real database is in.
fn referenced(schema: &Schema, table: &str) -> bool {
    schema.tables.iter().any(|t| {
        t.name != table
            && t.constraints.iter().any(
                |c| matches!(&c.kind, ConstraintKind::ForeignKey { table: to, .. } if to == table),
            )
    })
}

/// What a change is chosen from.
#[derive(Clone, Copy)]
struct Choice<'a> {
    /// The schema at `upto`, where objects are chosen.
    original: &'a Schema,
    /// The schema after the case's earlier changes, where they are made.
    current: &'a Schema,
    added_later: &'a [String],
}

/// `current` with the unique and foreign keys of `original` it lost, where
/// their columns are still there.
fn with_keys_of(original: &Schema, current: &Schema) -> Schema {
    let mut schema = current.clone();
    for table in &mut schema.tables {
        let Some(old) = original.table(&table.name) else {
            continue;
        };
        let lost: Vec<Constraint> = old
            .constraints
            .iter()
            .filter(|c| !table.constraints.iter().any(|now| now.name == c.name))
            .filter(|c| match &c.kind {
                ConstraintKind::Unique { columns } | ConstraintKind::PrimaryKey { columns } => {
                    columns.iter().all(|col| table.column(col).is_some())
                }
                ConstraintKind::ForeignKey {
                    columns,
                    table: to,
                    references,
                } => {
                    columns.iter().all(|col| table.column(col).is_some())
                        && current.table(to).is_some_and(|parent| {
                            references.iter().all(|col| parent.column(col).is_some())
                        })
                }
                ConstraintKind::Other => false,
            })
            .cloned()
            .collect();
        table.constraints.extend(lost);
    }
    schema
}

/// Change kinds below this one drop something.
const DROPS: usize = 4;

fn primary_key(table: &Table) -> Vec<&str> {
    table
        .constraints
        .iter()
        .filter_map(|c| match &c.kind {
            ConstraintKind::PrimaryKey { columns } => Some(columns),
            _ => None,
        })
        .flatten()
        .map(String::as_str)
        .collect()
}

/// Whether a foreign key holds the column, on either side.
fn in_foreign_key(schema: &Schema, table: &str, column: &str) -> bool {
    schema.tables.iter().any(|t| {
        t.constraints.iter().any(|c| match &c.kind {
            ConstraintKind::ForeignKey {
                columns,
                table: parent,
                references,
            } => {
                (t.name == table && columns.iter().any(|c| c == column))
                    || (parent == table && references.iter().any(|r| r == column))
            }
            _ => false,
        })
    })
}

/// The sets of one or two columns of `table` an index can be built on.
fn column_sets(schema: &Schema, table: &Table) -> Vec<Vec<String>> {
    let names: Vec<&String> = table
        .columns
        .iter()
        .filter(|c| types::kind(schema, &c.ty).indexable())
        .map(|c| &c.name)
        .collect();
    let mut sets: Vec<Vec<String>> = names.iter().map(|n| vec![(*n).clone()]).collect();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            sets.push(vec![(*a).clone(), (*b).clone()]);
        }
    }
    sets
}

fn choose_set(seed: u64, sets: Vec<Vec<String>>) -> Option<Vec<String>> {
    types::choose(seed, sets.into_iter().map(|s| (s.join(","), s)))
}

/// The next `n` for which neither `extra_<n>` nor `extra_<n>_idx` is taken.
fn extra(current: &Schema, next: &mut usize) -> usize {
    loop {
        let n = *next;
        *next += 1;
        let column = format!("extra_{n}");
        let index = format!("extra_{n}_idx");
        let taken = current.tables.iter().any(|t| {
            t.name == index
                || t.column(&column).is_some()
                || t.indexes.iter().any(|i| i.name == index)
                || t.constraints.iter().any(|c| c.name == index)
        });
        if !taken {
            return n;
        }
    }
}

/// A column of `schema` that `keep` accepts, chosen by `seed`.
fn pick_column(
    schema: &Schema,
    seed: u64,
    keep: impl Fn(&Table, &Column) -> bool,
) -> Option<(&Table, &Column)> {
    types::choose(
        seed,
        schema.tables.iter().flat_map(|t| {
            t.columns
                .iter()
                .filter(|c| keep(t, c))
                .map(move |c| (format!("{}.{}", t.name, c.name), (t, c)))
        }),
    )
}

fn pick_index(schema: &Schema, seed: u64) -> Option<(&Table, &crate::model::Index)> {
    types::choose(
        seed,
        schema.tables.iter().flat_map(|t| {
            t.indexes
                .iter()
                .filter(|i| !i.constraint)
                .map(move |i| (i.name.clone(), (t, i)))
        }),
    )
}

/// The change of kind `kind` that `seed` names, or `None` when there is
/// nothing of that kind to change.
///
/// The object is chosen in `original` (the schema at `upto`) so that the
/// choice does not depend on the other changes of the case: removing one
/// while shrinking leaves the others naming the same objects. The change
/// is then made to what `current` (the schema after the case's earlier
/// changes) holds, and left out when an earlier change took its object.
fn mutation(choice: Choice, kind: usize, seed: u64, next_extra: &mut usize) -> Option<Mutation> {
    let Choice {
        original,
        current,
        added_later,
    } = choice;
    let second = types::mix(seed);
    let now = |table: &str, column: &str| current.table(table)?.column(column).cloned();
    let pick_table = || types::choose(seed, original.tables.iter().map(|t| (t.name.clone(), t)));
    match kind {
        0 => {
            // What an old table may lack (as lint takes it too): nullable
            // columns, and NOT NULL ones with a default, which is how a NOT
            // NULL column gets added to a populated table. Key, identity
            // and serial columns, and NOT NULL ones without a default (they
            // would need a backfill), belong to the table's first version.
            let droppable = |t: &Table, c: &Column| {
                let serial = c
                    .default
                    .as_deref()
                    .is_some_and(|d| d.starts_with("nextval("));
                let later = !c.not_null || (c.default.is_some() && !serial);
                !c.generated && later && !primary_key(t).contains(&c.name.as_str())
            };
            let (t, c) = pick_column(original, seed, droppable)?;
            let table = current.table(&t.name)?;
            droppable(table, table.column(&c.name)?).then(|| Mutation::DropColumn {
                table: t.name.clone(),
                column: c.name.clone(),
            })
        }
        1 => {
            let (t, i) = pick_index(original, seed)?;
            let table = current.table(&t.name)?;
            table
                .indexes
                .iter()
                .any(|now| now.name == i.name && !now.constraint)
                .then(|| Mutation::DropIndex {
                    table: t.name.clone(),
                    index: i.name.clone(),
                })
        }
        2 => {
            let (t, c) = types::choose(
                seed,
                original.tables.iter().flat_map(|t| {
                    t.constraints
                        .iter()
                        .filter(|c| !matches!(c.kind, ConstraintKind::PrimaryKey { .. }))
                        .filter(|c| added_later.contains(&format!("{}.{}", t.name, c.name)))
                        .map(move |c| (format!("{}.{}", t.name, c.name), (t, c)))
                }),
            )?;
            let table = current.table(&t.name)?;
            table
                .constraints
                .iter()
                .any(|now| now.name == c.name)
                .then(|| Mutation::DropConstraint {
                    table: t.name.clone(),
                    constraint: c.name.clone(),
                })
        }
        3 => {
            let t = types::choose(
                seed,
                original
                    .tables
                    .iter()
                    .filter(|t| !referenced(original, &t.name))
                    .map(|t| (t.name.clone(), t)),
            )?;
            current.table(&t.name).map(|_| Mutation::DropTable {
                table: t.name.clone(),
            })
        }
        4 => {
            const TYPES: [&str; 4] = ["integer", "text", "boolean", "timestamp with time zone"];
            let t = current.table(&pick_table()?.name)?;
            let n = extra(current, next_extra);
            Some(Mutation::AddColumn {
                table: t.name.clone(),
                column: format!("extra_{n}"),
                ty: TYPES[(second % 4) as usize].to_owned(),
            })
        }
        5 => {
            let t = types::choose(
                seed,
                original
                    .tables
                    .iter()
                    .filter(|t| !column_sets(original, t).is_empty())
                    .map(|t| (t.name.clone(), t)),
            )?;
            let columns = choose_set(second, column_sets(original, t))?;
            let table = current.table(&t.name)?;
            if columns.iter().any(|c| table.column(c).is_none()) {
                return None;
            }
            let n = extra(current, next_extra);
            Some(Mutation::AddIndex {
                table: t.name.clone(),
                index: format!("extra_{n}_idx"),
                columns,
            })
        }
        6 => {
            let widens = |schema: &Schema, t: &Table, c: &Column| {
                !c.generated
                    && types::widening(&c.ty).is_some()
                    && !in_foreign_key(schema, &t.name, &c.name)
            };
            let (t, c) = pick_column(original, seed, |t, c| widens(original, t, c))?;
            let column = now(&t.name, &c.name)?;
            if !widens(current, t, &column) {
                return None;
            }
            Some(Mutation::ChangeType {
                table: t.name.clone(),
                column: c.name.clone(),
                ty: types::widening(&column.ty)?,
            })
        }
        7 => {
            let literal =
                |schema: &Schema, c: &Column| types::kind(schema, &c.ty).default_literal();
            let settable = |schema: &Schema, c: &Column| {
                !c.generated
                    && !rows::filled_by_database(c)
                    && (c.default.is_some() || literal(schema, c).is_some())
            };
            let (t, c) = pick_column(original, seed, |_, c| settable(original, c))?;
            let column = now(&t.name, &c.name)?;
            if !settable(current, &column) {
                return None;
            }
            let literal = literal(current, &column);
            let drop = column.default.is_some() && (second.is_multiple_of(2) || literal.is_none());
            Some(Mutation::ChangeDefault {
                table: t.name.clone(),
                column: c.name.clone(),
                default: if drop { None } else { literal },
            })
        }
        8 => {
            let nullable =
                |t: &Table, c: &Column| !c.generated && !primary_key(t).contains(&c.name.as_str());
            let (t, c) = pick_column(original, seed, nullable)?;
            let table = current.table(&t.name)?;
            let column = table.column(&c.name)?;
            nullable(table, column).then(|| Mutation::ChangeNullability {
                table: t.name.clone(),
                column: c.name.clone(),
                not_null: !column.not_null,
            })
        }
        _ => {
            let (t, i) = pick_index(original, seed)?;
            let sets = column_sets(original, t)
                .into_iter()
                .filter(|s| *s != i.columns)
                .collect();
            let columns = choose_set(second, sets)?;
            let table = current.table(&t.name)?;
            let index = table
                .indexes
                .iter()
                .find(|now| now.name == i.name && !now.constraint)?;
            if index.columns == columns || columns.iter().any(|c| table.column(c).is_none()) {
                return None;
            }
            Some(Mutation::ReplaceIndex {
                table: t.name.clone(),
                index: i.name.clone(),
                columns,
            })
        }
    }
}

impl Mutation {
    /// The SQL that makes the change, one complete statement per item, no
    /// trailing semicolon. Only [`Mutation::ReplaceIndex`] takes two.
    pub fn statements(&self) -> Vec<String> {
        use sql::{ident, idents};
        match self {
            Mutation::DropTable { table } => {
                vec![format!("DROP TABLE IF EXISTS {} CASCADE", ident(table))]
            }
            Mutation::DropColumn { table, column } => vec![format!(
                "ALTER TABLE {} DROP COLUMN IF EXISTS {} CASCADE",
                ident(table),
                ident(column)
            )],
            Mutation::DropIndex { index, .. } => {
                vec![format!("DROP INDEX IF EXISTS {}", ident(index))]
            }
            Mutation::DropConstraint { table, constraint } => vec![format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {} CASCADE",
                ident(table),
                ident(constraint)
            )],
            Mutation::AddColumn { table, column, ty } => vec![format!(
                "ALTER TABLE {} ADD COLUMN {} {ty}",
                ident(table),
                ident(column)
            )],
            Mutation::AddIndex {
                table,
                index,
                columns,
            } => vec![format!(
                "CREATE INDEX {} ON {} ({})",
                ident(index),
                ident(table),
                idents(columns)
            )],
            Mutation::ChangeType { table, column, ty } => vec![format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {ty}",
                ident(table),
                ident(column)
            )],
            Mutation::ChangeDefault {
                table,
                column,
                default,
            } => vec![format!(
                "ALTER TABLE {} ALTER COLUMN {} {}",
                ident(table),
                ident(column),
                match default {
                    Some(d) => format!("SET DEFAULT {d}"),
                    None => "DROP DEFAULT".to_owned(),
                }
            )],
            Mutation::ChangeNullability {
                table,
                column,
                not_null,
            } => vec![format!(
                "ALTER TABLE {} ALTER COLUMN {} {} NOT NULL",
                ident(table),
                ident(column),
                if *not_null { "SET" } else { "DROP" }
            )],
            Mutation::ReplaceIndex {
                table,
                index,
                columns,
            } => vec![
                format!("DROP INDEX IF EXISTS {}", ident(index)),
                format!(
                    "CREATE INDEX {} ON {} ({})",
                    ident(index),
                    ident(table),
                    idents(columns)
                ),
            ],
        }
    }

    pub fn effect(&self) -> Effect {
        match self {
            Mutation::DropTable { .. }
            | Mutation::DropColumn { .. }
            | Mutation::DropIndex { .. }
            | Mutation::DropConstraint { .. } => Effect::Removes,
            Mutation::AddColumn { .. } | Mutation::AddIndex { .. } => Effect::Adds,
            Mutation::ChangeType { .. }
            | Mutation::ChangeDefault { .. }
            | Mutation::ChangeNullability { .. }
            | Mutation::ReplaceIndex { .. } => Effect::Alters,
        }
    }

    /// The table changed (for an index, the table it is on).
    pub fn table(&self) -> Option<&str> {
        match self {
            Mutation::DropTable { table }
            | Mutation::DropColumn { table, .. }
            | Mutation::DropIndex { table, .. }
            | Mutation::DropConstraint { table, .. }
            | Mutation::AddColumn { table, .. }
            | Mutation::AddIndex { table, .. }
            | Mutation::ChangeType { table, .. }
            | Mutation::ChangeDefault { table, .. }
            | Mutation::ChangeNullability { table, .. }
            | Mutation::ReplaceIndex { table, .. } => Some(table),
        }
    }

    /// The change in plain words: "jobs.chat_id dropped".
    pub fn describe(&self) -> String {
        match self {
            Mutation::DropTable { table } => format!("table {table} dropped"),
            Mutation::DropColumn { table, column } => format!("{table}.{column} dropped"),
            Mutation::DropIndex { index, .. } => format!("index {index} dropped"),
            Mutation::DropConstraint { table, constraint } => {
                format!("constraint {constraint} of {table} dropped")
            }
            Mutation::AddColumn { table, column, ty } => {
                format!("{table}.{column} ({ty}) added")
            }
            Mutation::AddIndex {
                table,
                index,
                columns,
            } => format!("index {index} on {table} ({}) added", columns.join(", ")),
            Mutation::ChangeType { table, column, ty } => {
                format!("{table}.{column} changed to {ty}")
            }
            Mutation::ChangeDefault {
                table,
                column,
                default: Some(d),
            } => format!("{table}.{column} default set to {d}"),
            Mutation::ChangeDefault {
                table,
                column,
                default: None,
            } => format!("{table}.{column} default dropped"),
            Mutation::ChangeNullability {
                table,
                column,
                not_null: true,
            } => format!("{table}.{column} made NOT NULL"),
            Mutation::ChangeNullability {
                table,
                column,
                not_null: false,
            } => format!("{table}.{column} made nullable"),
            Mutation::ReplaceIndex { index, columns, .. } => {
                format!("index {index} re-created on ({})", columns.join(", "))
            }
        }
    }

    /// The change made to a model of the schema, so that later changes and
    /// rows of the case fit what the database then holds. Follows what
    /// `CASCADE` takes along: foreign keys on a dropped table, column or
    /// key, indexes and constraints on a dropped column.
    pub fn apply(&self, schema: &mut Schema) {
        let drop_references =
            |schema: &mut Schema, table: &str, gone: &dyn Fn(&[String]) -> bool| {
                for t in &mut schema.tables {
                    t.constraints.retain(|c| match &c.kind {
                        ConstraintKind::ForeignKey {
                            table: parent,
                            references,
                            ..
                        } => !(parent == table && gone(references)),
                        _ => true,
                    });
                }
            };
        let find = |schema: &mut Schema, table: &str| -> Option<usize> {
            schema.tables.iter().position(|t| t.name == table)
        };
        match self {
            Mutation::DropTable { table } => {
                schema.tables.retain(|t| t.name != *table);
                drop_references(schema, table, &|_| true);
            }
            Mutation::DropColumn { table, column } => {
                let Some(at) = find(schema, table) else {
                    return;
                };
                let t = &mut schema.tables[at];
                let has = |cols: &[String]| cols.iter().any(|c| c == column);
                t.columns.retain(|c| c.name != *column);
                let gone_indexes: Vec<String> = t
                    .indexes
                    .iter()
                    .filter(|i| has(&i.columns))
                    .map(|i| i.name.clone())
                    .collect();
                t.indexes.retain(|i| !has(&i.columns));
                t.constraints.retain(|c| {
                    !gone_indexes.contains(&c.name)
                        && match &c.kind {
                            ConstraintKind::PrimaryKey { columns }
                            | ConstraintKind::Unique { columns }
                            | ConstraintKind::ForeignKey { columns, .. } => !has(columns),
                            ConstraintKind::Other => true,
                        }
                });
                drop_references(schema, table, &|r| has(r));
            }
            Mutation::DropIndex { table, index } => {
                if let Some(at) = find(schema, table) {
                    schema.tables[at].indexes.retain(|i| i.name != *index);
                }
            }
            Mutation::DropConstraint { table, constraint } => {
                let Some(at) = find(schema, table) else {
                    return;
                };
                let t = &mut schema.tables[at];
                let key = t.constraints.iter().find_map(|c| match &c.kind {
                    ConstraintKind::PrimaryKey { columns } | ConstraintKind::Unique { columns }
                        if c.name == *constraint =>
                    {
                        Some(columns.clone())
                    }
                    _ => None,
                });
                t.constraints.retain(|c| c.name != *constraint);
                t.indexes
                    .retain(|i| !(i.constraint && i.name == *constraint));
                if let Some(key) = key {
                    drop_references(schema, table, &|r| {
                        r.len() == key.len() && r.iter().all(|c| key.contains(c))
                    });
                }
            }
            Mutation::AddColumn { table, column, ty } => {
                if let Some(at) = find(schema, table) {
                    schema.tables[at].columns.push(Column {
                        name: column.clone(),
                        ty: ty.clone(),
                        not_null: false,
                        default: None,
                        generated: false,
                    });
                }
            }
            Mutation::AddIndex {
                table,
                index,
                columns,
            } => {
                if let Some(at) = find(schema, table) {
                    schema.tables[at].indexes.push(crate::model::Index {
                        name: index.clone(),
                        columns: columns.clone(),
                        unique: false,
                        constraint: false,
                    });
                }
            }
            Mutation::ChangeType { table, column, ty } => {
                if let Some(c) = column_mut(schema, table, column) {
                    c.ty = ty.clone();
                }
            }
            Mutation::ChangeDefault {
                table,
                column,
                default,
            } => {
                if let Some(c) = column_mut(schema, table, column) {
                    c.default = default.clone();
                }
            }
            Mutation::ChangeNullability {
                table,
                column,
                not_null,
            } => {
                if let Some(c) = column_mut(schema, table, column) {
                    c.not_null = *not_null;
                }
            }
            Mutation::ReplaceIndex {
                table,
                index,
                columns,
            } => {
                if let Some(at) = find(schema, table) {
                    for i in &mut schema.tables[at].indexes {
                        if i.name == *index {
                            i.columns = columns.clone();
                            i.unique = false;
                        }
                    }
                }
            }
        }
    }
}

fn column_mut<'s>(schema: &'s mut Schema, table: &str, column: &str) -> Option<&'s mut Column> {
    schema
        .tables
        .iter_mut()
        .find(|t| t.name == table)?
        .columns
        .iter_mut()
        .find(|c| c.name == column)
}

impl LegacyCase {
    /// Everything to run on top of the applied migrations, in order: the
    /// changes' statements, then the rows' INSERTs. One complete statement
    /// per item, no trailing semicolon; each may fail on its own (run it
    /// in a savepoint and skip it then).
    pub fn statements(&self) -> Vec<String> {
        self.mutations
            .iter()
            .flat_map(Mutation::statements)
            .chain(self.rows.iter().map(Row::sql))
            .collect()
    }

    /// A short name for the state: "deployed at 002_jobs.sql, then
    /// jobs.chat_id dropped, 2 rows", "empty database", "003_x.sql stopped
    /// after statement 2". `migration_names[k]` names migration `k`.
    pub fn describe(&self, migration_names: &[String]) -> String {
        let name = |k: usize| {
            migration_names
                .get(k)
                .cloned()
                .unwrap_or_else(|| format!("migration {}", k + 1))
        };
        let mut text = match (self.upto, self.midway) {
            (0, None) => "empty database".to_owned(),
            (0, Some(j)) => format!("{} stopped after statement {j}", name(0)),
            (k, None) => format!("deployed at {}", name(k - 1)),
            (k, Some(j)) => format!(
                "deployed at {}, then {} stopped after statement {j}",
                name(k - 1),
                name(k)
            ),
        };
        if !self.mutations.is_empty() {
            let changes: Vec<String> = self.mutations.iter().map(Mutation::describe).collect();
            text.push_str(", then ");
            text.push_str(&changes.join(", "));
        }
        match self.rows.len() {
            0 => {}
            1 => text.push_str(", 1 row"),
            n => text.push_str(&format!(", {n} rows")),
        }
        text
    }
}
