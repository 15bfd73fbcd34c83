//! Auto-detection: which layout a migrations directory is written in,
//! decided from its entries' names and, for SQL files, two markers in
//! their text. It only picks a format; the format's reader then checks
//! every file, so a stray file is reported by name there.
//!
//! ```text
//! 2023-01-01-000000_users/up.sql   diesel (a directory holding up.sql)
//! V1__users.sql  U1__users.sql     flyway (also R__ files, reported as unsupported)
//! 1_users.up.sql 1_users.down.sql  golang-migrate, or sqlx when a file starts
//!                                  with `-- no-transaction`
//! 001_users.sql                    dbmate when a file has a `-- migrate:up` line,
//!                                  else sqlx when a file starts with
//!                                  `-- no-transaction` or the directory is in
//!                                  a crate that depends on sqlx, else plain
//! ```
//!
//! Reversible files (`.up.sql`/`.down.sql`) are the same layout in
//! golang-migrate and sqlx; the only difference migcheck can observe is
//! sqlx's `-- no-transaction` marker, so the marker decides. For the same
//! reason a numbered set with the marker is read as sqlx (whose simple
//! files are numbered files): plain would silently run it in a transaction.
//!
//! Two of these families in one directory are an error naming a file of
//! each, except numbered files beside reversible ones when the sqlx marker
//! is there (sqlx reads both kinds). Hidden entries, other files and
//! directories without `up.sql` are not looked at.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Entry, Format, MigrationsError, dbmate, entries, read_text, sqlx};

/// What a directory entry looks like, before any format reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    Numbered,
    Reversible,
    Flyway,
    Diesel,
}

impl Family {
    fn describe(self) -> &'static str {
        match self {
            Family::Numbered => "a numbered file (plain, sqlx or dbmate)",
            Family::Reversible => "an up/down file (golang-migrate or sqlx)",
            Family::Flyway => "a Flyway file",
            Family::Diesel => "a diesel migration directory",
        }
    }
}

fn family(entry: &Entry) -> Option<Family> {
    let name = entry.name.as_str();
    if entry.is_dir {
        return entry.path.join("up.sql").exists().then_some(Family::Diesel);
    }
    if !name.ends_with(".sql") {
        None
    } else if name.ends_with(".up.sql") || name.ends_with(".down.sql") {
        Some(Family::Reversible)
    } else if name.starts_with(['V', 'U', 'R']) && name.contains("__") {
        Some(Family::Flyway)
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        Some(Family::Numbered)
    } else {
        None
    }
}

pub(super) fn detect(dir: &Path) -> Result<Format, MigrationsError> {
    let entries = entries(dir)?;
    let mut found: BTreeMap<Family, Vec<&Entry>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for entry in &entries {
        match family(entry) {
            Some(family) => found.entry(family).or_default().push(entry),
            None if !entry.is_dir && entry.name.ends_with(".sql") => unknown.push(entry),
            None => {}
        }
    }
    if found.is_empty() {
        if unknown.is_empty() {
            return Err(MigrationsError::Empty {
                dir: dir.to_path_buf(),
                expected: "SQL files such as 001_init.sql, 1_init.up.sql or V1__init.sql, or diesel directories holding up.sql".into(),
            });
        }
        return Err(MigrationsError::Unrecognised {
            dir: dir.to_path_buf(),
            files: names(&unknown),
        });
    }

    let (mut sqlx_marker, mut dbmate_marker) = (false, false);
    for family in [Family::Numbered, Family::Reversible] {
        for entry in found.get(&family).into_iter().flatten() {
            // A file that is not text has no marker to show; the format's
            // reader reports it, with every other such file. One that
            // cannot be read at all (a symlink loop) the readers might
            // not see, so it is reported here.
            let text = match read_text(&entry.path) {
                Ok(text) => text,
                Err(MigrationsError::NotUtf8 { .. }) => continue,
                Err(e) => return Err(e),
            };
            sqlx_marker |= sqlx::no_transaction(&text);
            dbmate_marker |= family == Family::Numbered && dbmate::has_up_marker(&text);
        }
    }

    let families: Vec<Family> = found.keys().copied().collect();
    match families[..] {
        [Family::Diesel] => Ok(Format::Diesel),
        [Family::Flyway] => Ok(Format::Flyway),
        [Family::Reversible] if sqlx_marker => Ok(Format::Sqlx),
        [Family::Reversible] => Ok(Format::GolangMigrate),
        [Family::Numbered] if dbmate_marker => Ok(Format::Dbmate),
        [Family::Numbered] if sqlx_marker || in_sqlx_crate(dir) => Ok(Format::Sqlx),
        [Family::Numbered] => Ok(Format::Plain),
        [Family::Numbered, Family::Reversible] if sqlx_marker && !dbmate_marker => Ok(Format::Sqlx),
        _ => Err(MigrationsError::Mixed {
            dir: dir.to_path_buf(),
            layouts: found
                .iter()
                .map(|(family, entries)| {
                    let entry = entries[0];
                    let slash = if entry.is_dir { "/" } else { "" };
                    format!("{}{slash} is {}", entry.name, family.describe())
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Whether `dir` belongs to a Rust crate that depends on sqlx: the
/// nearest `Cargo.toml` above it (three levels at most, as in
/// `crates/<name>/migrations`) names `sqlx`. Numbered files are otherwise
/// the same in plain and sqlx sets, and the runner differs: sqlx's runs
/// each file once.
fn in_sqlx_crate(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dir.ancestors()
        .skip(1)
        .take(3)
        .map(|d| d.join("Cargo.toml"))
        .find(|manifest| manifest.is_file())
        .and_then(|manifest| crate::input::read_text(&manifest).ok())
        .is_some_and(|text| {
            text.lines()
                .any(|line| line.trim_start().starts_with("sqlx"))
        })
}

/// At most a few names, so that a directory of stray files still gives a
/// short message.
fn names(entries: &[&Entry]) -> String {
    const SHOWN: usize = 5;
    let mut names: Vec<_> = entries
        .iter()
        .take(SHOWN)
        .map(|e| e.name.as_str())
        .collect();
    let more = entries.len().saturating_sub(SHOWN);
    let more = format!("and {more} more");
    if entries.len() > SHOWN {
        names.push(&more);
    }
    names.join(", ")
}
