//! The [`plans`] strategy: raw random choices, interpreted against the
//! schema built so far, so that every plan is valid by construction and
//! shrinks with its choices (fewer migrations, fewer operations).
//!
//! Besides the random operations, every plan holds the shapes each
//! [`super::Defect`] needs (see its docs), so that nearly every plan fits
//! every defect:
//! - migration 1 creates a table with plain columns, an enum column and an
//!   index on a plain column;
//! - a later migration adds a nullable column to that table and indexes it;
//! - some migration seeds a settings table;
//! - the last migration adds a column.

use std::collections::HashSet;

use proptest::collection::vec;
use proptest::prelude::*;

use super::{Column, ColumnType, Key, Migration, Op, Plan};

/// One random operation: a kind and three numbers its interpretation
/// picks names, tables and types with.
type Raw = (u8, u16, u16, u16);

/// Random schema histories of 3 to 12 migrations.
pub fn plans() -> BoxedStrategy<Plan> {
    (
        vec(vec(any::<Raw>(), 1..=3), 3..=12),
        any::<(u16, u16, u16, u16)>(),
    )
        .prop_map(|(raw, forced)| build(&raw, forced))
        .boxed()
}

const TABLES: [(&str, &str); 14] = [
    ("orders", "order"),
    ("users", "user"),
    ("invoices", "invoice"),
    ("jobs", "job"),
    ("tickets", "ticket"),
    ("accounts", "account"),
    ("products", "product"),
    ("payments", "payment"),
    ("sessions", "session"),
    ("events", "event"),
    ("messages", "message"),
    ("projects", "project"),
    ("teams", "team"),
    ("files", "file"),
];

const SETTINGS: &str = "settings";

const SEEDS: [(&str, &str); 6] = [
    ("theme", "dark"),
    ("locale", "en"),
    ("timezone", "UTC"),
    ("page_size", "50"),
    ("currency", "EUR"),
    ("signup", "open"),
];

const ENUMS: [(&str, [&str; 3]); 3] = [
    ("state", ["new", "active", "closed"]),
    ("kind", ["basic", "premium", "trial"]),
    ("level", ["low", "normal", "high"]),
];

fn plain_type(n: u16) -> ColumnType {
    match n % 8 {
        0 => ColumnType::Integer,
        1 => ColumnType::Bigint,
        2 => ColumnType::Text,
        3 => ColumnType::Boolean,
        4 => ColumnType::Timestamptz,
        5 => ColumnType::Numeric,
        6 => ColumnType::Varchar,
        _ => ColumnType::Jsonb,
    }
}

fn column_words(ty: &ColumnType) -> &'static [&'static str] {
    match ty {
        ColumnType::Integer => &["quantity", "position", "attempts", "rank"],
        ColumnType::Bigint => &["external_ref", "size_bytes", "counter"],
        ColumnType::Text => &["note", "title", "description", "label"],
        ColumnType::Boolean => &["active", "archived", "verified"],
        ColumnType::Timestamptz => &["created_at", "updated_at", "paid_at", "seen_at"],
        ColumnType::Numeric => &["total", "amount", "price", "balance"],
        ColumnType::Varchar => &["code", "slug", "region", "currency"],
        ColumnType::Jsonb => &["payload", "metadata", "options"],
        ColumnType::Enum(_) => &["state", "kind", "level"],
    }
}

/// A constant default of `ty` for `NOT NULL` columns; none for an enum,
/// whose default is one of its labels.
fn constant_default(ty: &ColumnType) -> Option<String> {
    let default = match ty {
        ColumnType::Integer | ColumnType::Bigint | ColumnType::Numeric => "0",
        ColumnType::Text | ColumnType::Varchar => "''",
        ColumnType::Boolean => "false",
        ColumnType::Timestamptz => "'1970-01-01 00:00:00+00'",
        ColumnType::Jsonb => "'{}'",
        ColumnType::Enum(_) => return None,
    };
    Some(default.into())
}

struct TableState {
    name: String,
    singular: String,
    /// Columns with the migration that added them and whether they are
    /// nullable without a default (the only ones a new unique index may
    /// cover).
    columns: Vec<(String, ColumnType, usize, bool)>,
}

#[derive(Default)]
struct Builder {
    migrations: Vec<Vec<Op>>,
    tables: Vec<TableState>,
    /// Relations and types share one namespace.
    names: HashSet<String>,
    seeds: usize,
    /// Where in [`SEEDS`] the keys start; consecutive after that, so every
    /// seed has its own key (a down deletes its row by key).
    seed_offset: usize,
}

fn build(raw: &[Vec<Raw>], forced: (u16, u16, u16, u16)) -> Plan {
    let n = raw.len();
    let late = 1 + usize::from(forced.0) % (n - 1);
    let seed = usize::from(forced.1) % n;
    let mut b = Builder::default();
    for (m, ops) in raw.iter().enumerate() {
        b.migrations.push(Vec::new());
        if m == 0 {
            let t = b.create_table(forced.2, 1 + usize::from(forced.2) % 3, true);
            let column = b.tables[t].columns[1].0.clone();
            b.index(t, vec![column], false);
        }
        if m == late {
            let (column, _) = b.add_column(0, plain_type(forced.3), false);
            b.index(0, vec![column], false);
        }
        if m == seed {
            b.seed(forced.3);
        }
        for &op in ops {
            b.random(op);
        }
        if m == n - 1 {
            let t = b.pick_table(forced.2);
            b.add_column(t, plain_type(forced.1), forced.0.is_multiple_of(2));
        }
    }
    let migrations = b
        .migrations
        .into_iter()
        .map(|ops| Migration {
            name: migration_name(&ops),
            ops,
        })
        .collect();
    Plan { migrations }
}

fn migration_name(ops: &[Op]) -> String {
    match ops.first() {
        Some(Op::CreateTable { table, .. }) => format!("create_{table}"),
        Some(Op::AddColumn { table, column }) => format!("add_{table}_{}", column.name),
        Some(Op::CreateIndex { name, .. }) => format!("index_{name}"),
        Some(Op::AddForeignKey { table, column, .. }) => format!("add_{table}_{column}"),
        Some(Op::CreateEnum { name, .. }) => format!("create_type_{name}"),
        Some(Op::AddCheck { constraint, .. }) => format!("check_{constraint}"),
        Some(Op::Seed { table, key, .. }) => format!("seed_{table}_{key}"),
        None => "nothing".into(),
    }
}

impl Builder {
    fn current(&self) -> usize {
        self.migrations.len() - 1
    }

    fn push(&mut self, op: Op) {
        if let Some(ops) = self.migrations.last_mut() {
            ops.push(op);
        }
    }

    fn fresh_name(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// The tables random operations may change: all but the settings
    /// table, whose seeds must insert whatever was done to its other
    /// columns by hand (a changed default or a dropped constraint there
    /// would break the seeds, not the set).
    fn changeable(&self) -> Vec<usize> {
        (0..self.tables.len())
            .filter(|&t| self.tables[t].name != SETTINGS)
            .collect()
    }

    fn pick_table(&self, n: u16) -> usize {
        let tables = self.changeable();
        tables[usize::from(n) % tables.len()]
    }

    fn random(&mut self, (kind, a, b, c): Raw) {
        let t = self.pick_table(a);
        match kind % 8 {
            0 => {
                self.create_table(b, 1 + usize::from(c) % 4, c % 3 == 0);
            }
            1 | 2 => {
                self.add_column(t, plain_type(b), c % 2 == 0);
            }
            3 => self.random_index(t, b, c),
            4 => self.foreign_key(t, b),
            5 => self.enum_column(t, b, c % 2 == 0),
            6 => self.check(t, b, c % 2 == 0),
            _ => self.seed(b),
        }
    }

    /// A table with `plain` plain columns (the first nullable) and maybe an
    /// enum column; returns its position.
    fn create_table(&mut self, pick: u16, plain: usize, with_enum: bool) -> usize {
        let (base, singular) = TABLES[usize::from(pick) % TABLES.len()];
        let name = self.fresh_name(base);
        let key = match pick % 2 {
            0 => Key::Identity,
            _ => Key::Bigserial,
        };
        self.push(Op::CreateTable {
            table: name.clone(),
            key,
        });
        self.tables.push(TableState {
            name,
            singular: singular.into(),
            columns: vec![("id".into(), ColumnType::Bigint, self.current(), false)],
        });
        let t = self.tables.len() - 1;
        for i in 0..plain.max(1) {
            let salt = pick.wrapping_add(i as u16 * 3);
            self.add_column(t, plain_type(salt), i > 0 && salt.is_multiple_of(2));
        }
        if with_enum {
            self.enum_column(t, pick, pick.is_multiple_of(3));
        }
        t
    }

    fn column_name(&self, t: usize, ty: &ColumnType, pick: u16) -> String {
        let taken = |name: &str| self.tables[t].columns.iter().any(|c| c.0 == name);
        let words = column_words(ty);
        let start = usize::from(pick) % words.len();
        for k in 0..words.len() {
            let word = words[(start + k) % words.len()];
            if !taken(word) {
                return word.into();
            }
        }
        let base = words[start];
        (2..)
            .map(|n| format!("{base}_{n}"))
            .find(|name| !taken(name))
            .unwrap_or_default()
    }

    /// Adds a column; returns its name and whether it is nullable.
    fn add_column(&mut self, t: usize, ty: ColumnType, not_null: bool) -> (String, bool) {
        let pick = self.tables[t].columns.len() as u16 + self.current() as u16;
        let name = self.column_name(t, &ty, pick);
        let not_null_default = match not_null {
            true => constant_default(&ty),
            false => None,
        };
        self.add(t, name.clone(), ty, not_null_default.clone());
        (name, not_null_default.is_none())
    }

    fn add(&mut self, t: usize, name: String, ty: ColumnType, not_null_default: Option<String>) {
        let nullable = not_null_default.is_none();
        let current = self.current();
        self.tables[t]
            .columns
            .push((name.clone(), ty.clone(), current, nullable));
        self.push(Op::AddColumn {
            table: self.tables[t].name.clone(),
            column: Column {
                name,
                ty,
                not_null_default,
            },
        });
    }

    fn index(&mut self, t: usize, columns: Vec<String>, unique: bool) {
        let table = self.tables[t].name.clone();
        let suffix = if unique { "key" } else { "idx" };
        let name = self.fresh_name(&format!("{table}_{}_{suffix}", columns.join("_")));
        self.push(Op::CreateIndex {
            table,
            name,
            columns,
            unique,
        });
    }

    /// An index on one or two columns; unique only when every column is
    /// nullable and new in this migration, so no row can violate it.
    fn random_index(&mut self, t: usize, b: u16, c: u16) {
        let columns = &self.tables[t].columns;
        let first = usize::from(b) % columns.len();
        let mut chosen = vec![first];
        if c.is_multiple_of(3) && columns.len() > 1 {
            let second = (first + 1 + usize::from(c) % (columns.len() - 1)) % columns.len();
            chosen.push(second);
        }
        let current = self.current();
        let unique = c % 2 == 1
            && chosen
                .iter()
                .all(|&i| columns[i].2 == current && columns[i].3 && i != 0);
        let names = chosen.iter().map(|&i| columns[i].0.clone()).collect();
        self.index(t, names, unique);
    }

    fn foreign_key(&mut self, t: usize, b: u16) {
        let others: Vec<usize> = self.changeable().into_iter().filter(|&r| r != t).collect();
        if others.is_empty() {
            self.add_column(t, plain_type(b), false);
            return;
        }
        let r = others[usize::from(b) % others.len()];
        let references = self.tables[r].name.clone();
        let base = format!("{}_id", self.tables[r].singular);
        let taken = |name: &str| self.tables[t].columns.iter().any(|c| c.0 == name);
        let column = match taken(&base) {
            false => base,
            true => (2..)
                .map(|n| format!("{base}_{n}"))
                .find(|name| !taken(name))
                .unwrap_or_default(),
        };
        let table = self.tables[t].name.clone();
        let current = self.current();
        self.tables[t]
            .columns
            .push((column.clone(), ColumnType::Bigint, current, true));
        self.push(Op::AddForeignKey {
            constraint: format!("{table}_{column}_fkey"),
            table,
            column,
            references,
        });
    }

    fn enum_column(&mut self, t: usize, pick: u16, not_null: bool) {
        let (word, labels) = ENUMS[usize::from(pick) % ENUMS.len()];
        let taken = |name: &str| self.tables[t].columns.iter().any(|c| c.0 == name);
        let column = match taken(word) {
            false => word.to_string(),
            true => (2..)
                .map(|n| format!("{word}_{n}"))
                .find(|name| !taken(name))
                .unwrap_or_default(),
        };
        let ty = self.fresh_name(&format!("{}_{column}", self.tables[t].name));
        self.push(Op::CreateEnum {
            name: ty.clone(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
        });
        let default = not_null.then(|| crate::sql::literal(labels[0]));
        self.add(t, column, ColumnType::Enum(ty), default);
    }

    /// A new numeric column and a check that any value of it passes.
    fn check(&mut self, t: usize, pick: u16, not_null: bool) {
        let ty = match pick % 3 {
            0 => ColumnType::Integer,
            1 => ColumnType::Bigint,
            _ => ColumnType::Numeric,
        };
        let (column, _) = self.add_column(t, ty, not_null);
        let table = self.tables[t].name.clone();
        self.push(Op::AddCheck {
            constraint: format!("{table}_{column}_check"),
            table,
            column,
        });
    }

    /// A seed row of the settings table, creating the table first if no
    /// earlier operation did.
    fn seed(&mut self, pick: u16) {
        if self.seeds >= SEEDS.len() {
            return;
        }
        if !self.tables.iter().any(|t| t.name == SETTINGS) {
            self.names.insert(SETTINGS.into());
            self.push(Op::CreateTable {
                table: SETTINGS.into(),
                key: Key::Identity,
            });
            self.tables.push(TableState {
                name: SETTINGS.into(),
                singular: "setting".into(),
                columns: vec![("id".into(), ColumnType::Bigint, self.current(), false)],
            });
            let t = self.tables.len() - 1;
            self.add(t, "key".into(), ColumnType::Text, None);
            self.add(t, "value".into(), ColumnType::Text, None);
            self.index(t, vec!["key".into()], true);
        }
        if self.seeds == 0 {
            self.seed_offset = usize::from(pick);
        }
        let (key, value) = SEEDS[(self.seed_offset + self.seeds) % SEEDS.len()];
        self.seeds += 1;
        self.push(Op::Seed {
            table: SETTINGS.into(),
            key: key.into(),
            value: value.into(),
        });
    }
}
