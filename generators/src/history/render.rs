//! A [`Plan`] as golang-migrate files, correct or with one [`Defect`].
//!
//! A defect is injected in two ways: by moving or removing operations of
//! a copy of the plan (files out of order, a column folded into its
//! table's `CREATE TABLE`, a migration left out), and by [`Tweaks`] that
//! render one named object in the defective style (no `IF NOT EXISTS`,
//! no `ON CONFLICT`, a DO block, a down that keeps a type).

use std::fmt::Write as _;

use super::{Column, ColumnType, Key, Op, Plan};
use crate::sql::{ident, literal};

/// One class of bug migcheck exists to catch, injected into an otherwise
/// correct rendering. Each variant's docs say its shape and which plans
/// have a place for it; every plan from [`super::plans`] fits every defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// Files out of order: an index on a column is moved to the end of the
    /// migration before the one that adds the column, so a fresh install
    /// fails with `column ... does not exist`. Fits when a migration after
    /// the table's creation adds a column and indexes it.
    ApplyFailed,
    /// One `ADD COLUMN` without `IF NOT EXISTS`: the second run fails with
    /// `column ... already exists`. Fits any plan (every table gets a
    /// column).
    RerunFailed,
    /// Every seed a plain `INSERT ... VALUES` (no `WHERE NOT EXISTS`), and
    /// the settings table without its unique index on `key`: each run
    /// inserts the rows again. Fits plans with a seed.
    RerunChanged,
    /// The jobs/chat_id shape: a nullable column that a later migration
    /// added is folded into its table's original `CREATE TABLE IF NOT
    /// EXISTS` (its `ADD COLUMN` and the down's `DROP COLUMN` removed); the
    /// index on it stays in the later migration. Fresh installs and reruns
    /// work; a database whose table predates the column fails on the index
    /// (found from lint's predicted state and the fuzzer's dropped column).
    /// Fits when a migration after the table's creation adds a nullable
    /// plain column that an index in it or later covers.
    LegacyApplyFailed,
    /// An index created only inside the `IF NOT EXISTS (table)` branch of a
    /// DO block that creates the table (with its columns of that migration
    /// inline), so a database that already has the table never gets the
    /// index. Needs a legacy state with the table and without the index
    /// (the fuzzer's dropped index, or a hand-made table). Fits when the
    /// table's creation migration indexes plain columns it adds.
    DivergesFromFresh,
    /// The last migration that adds a column and that no later migration
    /// builds on is left out (the rest renumbered); the expectation still
    /// lists its columns. Fits when such a migration exists (the last one
    /// always qualifies when it adds a column).
    MissingExpected,
    /// The down of a migration that creates a table and an enum type for
    /// one of its columns drops the table but not the type. The up guards
    /// `CREATE TYPE`, so the re-up works and the rollback check reports the
    /// surviving type as `down-not-inverse` (as `scenarios/err/down-enum-left`).
    /// Fits when a migration creates a table with an enum column.
    DownNotInverse,
    /// One `CREATE INDEX` without `IF NOT EXISTS` (lint's static finding;
    /// running it also gives `rerun-failed`). Fits any plan with an index.
    NonIdempotentStatement,
    /// The shape of [`Defect::LegacyApplyFailed`], as lint sees it without
    /// running anything.
    IndexBeforeColumn,
}

impl Defect {
    pub const ALL: [Defect; 9] = [
        Defect::ApplyFailed,
        Defect::RerunFailed,
        Defect::RerunChanged,
        Defect::LegacyApplyFailed,
        Defect::DivergesFromFresh,
        Defect::MissingExpected,
        Defect::DownNotInverse,
        Defect::NonIdempotentStatement,
        Defect::IndexBeforeColumn,
    ];

    /// The finding kind (product.md) migcheck must report for it.
    pub fn kind(self) -> &'static str {
        match self {
            Defect::ApplyFailed => "apply-failed",
            Defect::RerunFailed => "rerun-failed",
            Defect::RerunChanged => "rerun-changed",
            Defect::LegacyApplyFailed => "legacy-apply-failed",
            Defect::DivergesFromFresh => "diverges-from-fresh",
            Defect::MissingExpected => "missing-expected",
            Defect::DownNotInverse => "down-not-inverse",
            Defect::NonIdempotentStatement => "non-idempotent-statement",
            Defect::IndexBeforeColumn => "index-before-column",
        }
    }

    /// The defect whose [`Defect::kind`] is `kind`.
    pub fn from_kind(kind: &str) -> Option<Defect> {
        Defect::ALL.into_iter().find(|d| d.kind() == kind)
    }
}

/// A plan rendered as a golang-migrate set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `(file name, SQL)`: `000001_<name>.up.sql` and
    /// `000001_<name>.down.sql` for every migration, in order.
    pub files: Vec<(String, String)>,
    /// Everything the final schema of a fresh install of these files has;
    /// for [`Defect::MissingExpected`], what the correct rendering has
    /// (so it names what the left-out migration adds).
    pub expect: Expect,
    pub defect: Option<Defect>,
}

/// What an application needs at the end, as a scenario's `expect:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    pub tables: Vec<String>,
    /// `"table.column type"`, the type as `format_type` prints it.
    pub columns: Vec<String>,
    /// Every index, primary keys' (`<table>_pkey`) included.
    pub indexes: Vec<String>,
}

/// Objects rendered in the defective style, by name.
#[derive(Debug, Default)]
struct Tweaks {
    /// `(table, column)` added without `IF NOT EXISTS`.
    unguarded_column: Option<(String, String)>,
    /// An index created without `IF NOT EXISTS`.
    plain_index: Option<String>,
    /// Seeds inserted whether or not their key is there.
    seeds_without_conflict: bool,
    /// `(table, column)` declared in the table's `CREATE TABLE`.
    inline: Option<(String, String)>,
    /// An index created in the DO block that creates its table, with the
    /// columns declared there.
    do_block: Option<DoBlock>,
    /// An enum type the down leaves.
    kept_type: Option<String>,
}

#[derive(Debug)]
struct DoBlock {
    table: String,
    index: String,
    columns: Vec<Column>,
}

/// `plan` rendered correctly (`defect` `None`) or with `defect`; `None`
/// when the plan has no place for the defect (see each [`Defect`]).
pub fn render(plan: &Plan, defect: Option<Defect>) -> Option<Rendered> {
    let mut plan = plan.clone();
    let mut tweaks = Tweaks::default();
    let expect = expect(&plan);
    match defect {
        None => {}
        Some(Defect::ApplyFailed) => {
            let (m, i) = index_on_later_column(&plan)?;
            let op = plan.migrations[m].ops.remove(i);
            plan.migrations[m - 1].ops.push(op);
        }
        Some(Defect::RerunFailed) => {
            let (table, column) = plan.ops().find_map(|(_, _, op)| match op {
                Op::AddColumn { table, column } => Some((table.clone(), column.name.clone())),
                _ => None,
            })?;
            tweaks.unguarded_column = Some((table, column));
        }
        Some(Defect::RerunChanged) => {
            let table = plan.ops().find_map(|(_, _, op)| match op {
                Op::Seed { table, .. } => Some(table.clone()),
                _ => None,
            })?;
            for migration in &mut plan.migrations {
                migration.ops.retain(|op| {
                    !matches!(op, Op::CreateIndex { table: t, columns, unique: true, .. }
                        if *t == table && columns.iter().all(|c| c == "key" || c == "value"))
                });
            }
            tweaks.seeds_without_conflict = true;
        }
        Some(Defect::LegacyApplyFailed | Defect::IndexBeforeColumn) => {
            let (m, i, creation) = indexed_later_column(&plan)?;
            let op = plan.migrations[m].ops.remove(i);
            if let Op::AddColumn { table, column } = &op {
                tweaks.inline = Some((table.clone(), column.name.clone()));
            }
            plan.migrations[creation.0].ops.insert(creation.1 + 1, op);
        }
        Some(Defect::DivergesFromFresh) => tweaks.do_block = Some(index_at_creation(&plan)?),
        Some(Defect::MissingExpected) => {
            let m = removable_migration(&plan)?;
            plan.migrations.remove(m);
        }
        Some(Defect::DownNotInverse) => tweaks.kept_type = Some(enum_at_creation(&plan)?),
        Some(Defect::NonIdempotentStatement) => {
            tweaks.plain_index = plan.ops().find_map(|(_, _, op)| match op {
                Op::CreateIndex { name, .. } => Some(name.clone()),
                _ => None,
            });
            tweaks.plain_index.as_ref()?;
        }
    }
    let expect = match defect {
        Some(Defect::MissingExpected) => expect,
        _ => self::expect(&plan),
    };
    let mut files = Vec::new();
    for (m, migration) in plan.migrations.iter().enumerate() {
        let stem = format!("{:06}_{}", m + 1, migration.name);
        files.push((format!("{stem}.up.sql"), up(&migration.ops, &tweaks)));
        files.push((format!("{stem}.down.sql"), down(&migration.ops, &tweaks)));
    }
    Some(Rendered {
        files,
        expect,
        defect,
    })
}

/// Where a column is added: (migration, operation).
fn added(plan: &Plan, table: &str, column: &str) -> Option<(usize, usize)> {
    plan.ops()
        .find(|(_, _, op)| match op {
            Op::AddColumn {
                table: t,
                column: c,
            } => t == table && c.name == column,
            Op::AddForeignKey {
                table: t,
                column: c,
                ..
            } => t == table && c == column,
            _ => false,
        })
        .map(|(m, i, _)| (m, i))
}

/// An index in migration `m` on a column added earlier in `m`, its table
/// created before `m`.
fn index_on_later_column(plan: &Plan) -> Option<(usize, usize)> {
    plan.ops()
        .find(|&(m, i, op)| match op {
            Op::CreateIndex { table, columns, .. } => {
                m > 0
                    && plan.creation(table).is_some_and(|(c, _)| c < m)
                    && columns
                        .iter()
                        .any(|c| added(plan, table, c).is_some_and(|(am, ai)| am == m && ai < i))
            }
            _ => false,
        })
        .map(|(m, i, _)| (m, i))
}

/// A nullable plain column added after its table's creation migration and
/// indexed from then on: (migration, operation, table's creation).
fn indexed_later_column(plan: &Plan) -> Option<(usize, usize, (usize, usize))> {
    plan.ops().find_map(|(m, i, op)| {
        let Op::AddColumn { table, column } = op else {
            return None;
        };
        let creation = plan.creation(table)?;
        let plain = column.not_null_default.is_none() && !matches!(column.ty, ColumnType::Enum(_));
        let indexed = plan.ops().any(|(im, ii, op)| {
            matches!(op, Op::CreateIndex { table: t, columns, .. }
                if t == table && columns.contains(&column.name))
                && (im, ii) > (m, i)
        });
        (creation.0 < m && plain && indexed).then_some((m, i, creation))
    })
}

/// An index in its table's creation migration, only on plain columns that
/// migration adds before it.
fn index_at_creation(plan: &Plan) -> Option<DoBlock> {
    plan.ops().find_map(|(m, i, op)| {
        let Op::CreateIndex {
            table,
            name,
            columns,
            ..
        } = op
        else {
            return None;
        };
        let (cm, ci) = plan.creation(table)?;
        let ops = &plan.migrations[m].ops;
        let declared: Vec<Column> = ops[ci..i]
            .iter()
            .filter_map(|op| match op {
                Op::AddColumn { table: t, column }
                    if t == table && !matches!(column.ty, ColumnType::Enum(_)) =>
                {
                    Some(column.clone())
                }
                _ => None,
            })
            .collect();
        let covered = columns
            .iter()
            .all(|c| declared.iter().any(|d| d.name == *c));
        (cm == m && covered).then(|| DoBlock {
            table: table.clone(),
            index: name.clone(),
            columns: declared,
        })
    })
}

/// An enum type created in the migration that creates the table of a
/// column of that type.
fn enum_at_creation(plan: &Plan) -> Option<String> {
    plan.ops().find_map(|(m, _, op)| {
        let Op::CreateEnum { name, .. } = op else {
            return None;
        };
        let used = plan.migrations[m].ops.iter().any(|op| match op {
            Op::AddColumn { table, column } => {
                column.ty == ColumnType::Enum(name.clone())
                    && plan.creation(table).is_some_and(|(cm, _)| cm == m)
            }
            _ => false,
        });
        used.then(|| name.clone())
    })
}

/// The last migration (not the first) that adds a column and whose
/// objects no later migration refers to.
fn removable_migration(plan: &Plan) -> Option<usize> {
    (1..plan.migrations.len()).rev().find(|&m| {
        let ops = &plan.migrations[m].ops;
        let adds_column = ops
            .iter()
            .any(|op| matches!(op, Op::AddColumn { .. } | Op::AddForeignKey { .. }));
        let later = plan.migrations[m + 1..].iter().flat_map(|g| &g.ops);
        let used = later
            .into_iter()
            .any(|op| ops.iter().any(|mine| refers_to(op, mine)));
        adds_column && !used
    })
}

/// Whether `op` needs something `earlier` creates.
fn refers_to(op: &Op, earlier: &Op) -> bool {
    let columns: Vec<&str> = match op {
        Op::CreateIndex { columns, .. } => columns.iter().map(String::as_str).collect(),
        Op::AddCheck { column, .. } => vec![column.as_str()],
        Op::Seed { .. } => vec!["key", "value"],
        _ => Vec::new(),
    };
    match earlier {
        Op::CreateTable { table, .. } => {
            op.table() == Some(table)
                || matches!(op, Op::AddForeignKey { references, .. } if references == table)
        }
        Op::AddColumn { table, column } => {
            op.table() == Some(table) && columns.contains(&column.name.as_str())
        }
        Op::AddForeignKey { table, column, .. } => {
            op.table() == Some(table) && columns.contains(&column.as_str())
        }
        Op::CreateEnum { name, .. } => {
            matches!(op, Op::AddColumn { column, .. } if column.ty == ColumnType::Enum(name.clone()))
        }
        // The seeds' ON CONFLICT needs the unique index on key.
        Op::CreateIndex { table, .. } => matches!(op, Op::Seed { table: t, .. } if t == table),
        Op::AddCheck { .. } | Op::Seed { .. } => false,
    }
}

fn expect(plan: &Plan) -> Expect {
    let mut expect = Expect::default();
    for (_, _, op) in plan.ops() {
        match op {
            Op::CreateTable { table, .. } => {
                expect.tables.push(table.clone());
                expect.columns.push(format!("{table}.id bigint"));
                expect.indexes.push(format!("{table}_pkey"));
            }
            Op::AddColumn { table, column } => {
                expect
                    .columns
                    .push(format!("{table}.{} {}", column.name, column.ty.formatted()))
            }
            Op::AddForeignKey { table, column, .. } => {
                expect.columns.push(format!("{table}.{column} bigint"))
            }
            Op::CreateIndex { name, .. } => expect.indexes.push(name.clone()),
            Op::CreateEnum { .. } | Op::AddCheck { .. } | Op::Seed { .. } => {}
        }
    }
    expect
}

pub(super) fn key_sql(key: Key) -> &'static str {
    match key {
        Key::Identity => "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        Key::Bigserial => "bigserial PRIMARY KEY",
    }
}

fn column_sql(column: &Column) -> String {
    let mut sql = format!("{} {}", ident(&column.name), column.ty.sql());
    if let Some(default) = &column.not_null_default {
        let _ = write!(sql, " NOT NULL DEFAULT {default}");
    }
    sql
}

fn guarded(condition: &str, statement: &str) -> String {
    format!(
        "DO $$\nBEGIN\n    IF NOT EXISTS ({condition}) THEN\n        {statement}\n    END IF;\nEND\n$$;"
    )
}

fn constraint_guard(table: &str, constraint: &str) -> String {
    format!(
        "SELECT 1 FROM pg_constraint WHERE conname = {} AND conrelid = {}::regclass",
        literal(constraint),
        literal(&ident(table))
    )
}

fn up(ops: &[Op], tweaks: &Tweaks) -> String {
    let mut statements = Vec::new();
    for op in ops {
        match op {
            Op::CreateTable { table, key } => {
                if let Some(block) = tweaks.do_block.as_ref().filter(|b| b.table == *table) {
                    statements.push(do_block_table(table, *key, block, ops));
                    continue;
                }
                let mut columns = vec![format!("id {}", key_sql(*key))];
                if let Some((t, c)) = &tweaks.inline
                    && t == table
                {
                    columns.extend(ops.iter().filter_map(|op| match op {
                        Op::AddColumn { table, column } if table == t && column.name == *c => {
                            Some(column_sql(column))
                        }
                        _ => None,
                    }));
                }
                statements.push(format!(
                    "CREATE TABLE IF NOT EXISTS {} (\n    {}\n);",
                    ident(table),
                    columns.join(",\n    ")
                ));
            }
            Op::AddColumn { table, column } => {
                let key = (table.clone(), column.name.clone());
                if tweaks.inline.as_ref() == Some(&key) {
                    continue;
                }
                let guard = match tweaks.unguarded_column.as_ref() == Some(&key) {
                    true => "",
                    false => "IF NOT EXISTS ",
                };
                statements.push(format!(
                    "ALTER TABLE {} ADD COLUMN {guard}{};",
                    ident(table),
                    column_sql(column)
                ));
            }
            Op::CreateIndex {
                table,
                name,
                columns,
                unique,
            } => {
                if tweaks.do_block.as_ref().is_some_and(|b| b.index == *name) {
                    continue;
                }
                let guard = match tweaks.plain_index.as_ref() == Some(name) {
                    true => "",
                    false => "IF NOT EXISTS ",
                };
                statements.push(index_sql(table, name, columns, *unique, guard));
            }
            Op::AddForeignKey {
                table,
                column,
                references,
                constraint,
            } => {
                statements.push(format!(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} bigint;",
                    ident(table),
                    ident(column)
                ));
                statements.push(guarded(
                    &constraint_guard(table, constraint),
                    &format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} (id);",
                        ident(table),
                        ident(constraint),
                        ident(column),
                        ident(references)
                    ),
                ));
            }
            Op::CreateEnum { name, labels } => {
                let labels: Vec<String> = labels.iter().map(|l| literal(l)).collect();
                statements.push(guarded(
                    &format!("SELECT 1 FROM pg_type WHERE typname = {}", literal(name)),
                    &format!(
                        "CREATE TYPE {} AS ENUM ({});",
                        ident(name),
                        labels.join(", ")
                    ),
                ));
            }
            Op::AddCheck {
                table,
                column,
                constraint,
            } => statements.push(guarded(
                &constraint_guard(table, constraint),
                &format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({c} IS NULL OR {c} >= 0);",
                    ident(table),
                    ident(constraint),
                    c = ident(column)
                ),
            )),
            Op::Seed { table, key, value } => {
                let (table, key, value) = (ident(table), literal(key), literal(value));
                statements.push(match tweaks.seeds_without_conflict {
                    true => format!("INSERT INTO {table} (key, value) VALUES ({key}, {value});"),
                    // Not ON CONFLICT (key): that needs the unique index
                    // on key to be there and on key alone, which a
                    // database changed by hand may not have.
                    false => format!(
                        "INSERT INTO {table} (key, value)\nSELECT {key}, {value}\nWHERE NOT EXISTS (SELECT 1 FROM {table} WHERE key = {key});"
                    ),
                });
            }
        }
    }
    join(statements)
}

fn index_sql(table: &str, name: &str, columns: &[String], unique: bool, guard: &str) -> String {
    let columns: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    format!(
        "CREATE {}INDEX {guard}{} ON {} ({});",
        if unique { "UNIQUE " } else { "" },
        ident(name),
        ident(table),
        columns.join(", ")
    )
}

/// The defective creation: the table with its columns and one index, all
/// only when the table is missing.
fn do_block_table(table: &str, key: Key, block: &DoBlock, ops: &[Op]) -> String {
    let mut columns = vec![format!("id {}", key_sql(key))];
    columns.extend(block.columns.iter().map(column_sql));
    let index = ops.iter().find_map(|op| match op {
        Op::CreateIndex {
            table,
            name,
            columns,
            unique,
        } if *name == block.index => Some(index_sql(table, name, columns, *unique, "")),
        _ => None,
    });
    format!(
        "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_tables\n                   WHERE schemaname = 'public' AND tablename = {}) THEN\n        CREATE TABLE {} (\n            {}\n        );\n        {}\n    END IF;\nEND\n$$;",
        literal(table),
        ident(table),
        columns.join(",\n            "),
        index.unwrap_or_default()
    )
}

/// The inverse of `ops`: their undoing in reverse order, skipping what
/// dropping a table created here takes with it, and the enum types last
/// (a table's column still uses its type until the table is gone).
fn down(ops: &[Op], tweaks: &Tweaks) -> String {
    let created = |table: &str| {
        ops.iter()
            .any(|op| matches!(op, Op::CreateTable { table: t, .. } if t == table))
    };
    let mut statements = Vec::new();
    let mut types = Vec::new();
    for op in ops.iter().rev() {
        if op.table().is_some_and(created) && !matches!(op, Op::CreateTable { .. }) {
            continue;
        }
        match op {
            Op::CreateTable { table, .. } => {
                statements.push(format!("DROP TABLE IF EXISTS {};", ident(table)))
            }
            Op::AddColumn { table, column } => statements.push(drop_column(table, &column.name)),
            Op::CreateIndex { name, .. } => {
                statements.push(format!("DROP INDEX IF EXISTS {};", ident(name)))
            }
            Op::AddForeignKey {
                table,
                column,
                constraint,
                ..
            } => {
                statements.push(drop_constraint(table, constraint));
                statements.push(drop_column(table, column));
            }
            Op::CreateEnum { name, .. } => {
                if tweaks.kept_type.as_ref() != Some(name) {
                    types.push(format!("DROP TYPE IF EXISTS {};", ident(name)));
                }
            }
            Op::AddCheck {
                table, constraint, ..
            } => statements.push(drop_constraint(table, constraint)),
            Op::Seed { table, key, .. } => statements.push(format!(
                "DELETE FROM {} WHERE key = {};",
                ident(table),
                literal(key)
            )),
        }
    }
    statements.extend(types);
    join(statements)
}

fn drop_column(table: &str, column: &str) -> String {
    format!(
        "ALTER TABLE IF EXISTS {} DROP COLUMN IF EXISTS {};",
        ident(table),
        ident(column)
    )
}

fn drop_constraint(table: &str, constraint: &str) -> String {
    format!(
        "ALTER TABLE IF EXISTS {} DROP CONSTRAINT IF EXISTS {};",
        ident(table),
        ident(constraint)
    )
}

fn join(statements: Vec<String>) -> String {
    let mut sql = statements.join("\n\n");
    sql.push('\n');
    sql
}

impl Rendered {
    /// A scenario file for this rendering, its migrations in
    /// `migrations_dir` (relative to the scenario file).
    pub fn scenario_yaml(&self, migrations_dir: &str) -> String {
        self.scenario_yaml_with_legacy(migrations_dir, &[])
    }

    /// [`Rendered::scenario_yaml`] with `legacy:` states, each `(name,
    /// SQL)` (see [`super::Plan::older_first_table`]).
    pub fn scenario_yaml_with_legacy(
        &self,
        migrations_dir: &str,
        legacy: &[(String, String)],
    ) -> String {
        let name = match self.defect {
            None => "generated history (correct)".to_string(),
            Some(defect) => format!("generated history with a {} defect", defect.kind()),
        };
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|i| yaml_string(i)).collect();
            format!("[{}]", quoted.join(", "))
        };
        let mut yaml = format!(
            "name: {}\nmigrations: {}\nformat: golang-migrate\nrunner: rerun-all\nexpect:\n  tables: {}\n  columns: {}\n  indexes: {}\n",
            yaml_string(&name),
            yaml_string(migrations_dir),
            list(&self.expect.tables),
            list(&self.expect.columns),
            list(&self.expect.indexes)
        );
        if !legacy.is_empty() {
            yaml.push_str("legacy:\n");
            for (state, sql) in legacy {
                let _ = write!(
                    yaml,
                    "  - name: {}\n    sql: {}\n",
                    yaml_string(state),
                    yaml_string(sql)
                );
            }
        }
        yaml
    }
}

/// A YAML double-quoted scalar.
fn yaml_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
