//! Plain numbered SQL files: `001_init.sql`, `2-add-jobs.sql`, ordered by
//! the numeric value of the leading number, then by name. Two files may
//! share a number. There is no marker: a file runs in a transaction unless
//! it holds a statement that refuses one (`CREATE INDEX CONCURRENTLY`) or
//! its own transaction control, as psql would run it.
//!
//! ```text
//! migrations/
//!   001_users.sql
//!   002_jobs.sql
//!   002_jobs_index.sql
//!   README.md          (not .sql: left alone)
//! ```

use std::path::Path;

use super::{Migration, MigrationsError, Script, every};

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, MigrationsError> {
    let read_dir = |source| MigrationsError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let path = entry.map_err(read_dir)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // Other files (READMEs, fixtures) may live beside the migrations;
        // a `.sql` that is not a regular file (a FIFO, a link to a
        // device) is read, and refused by `input` with its reason.
        if !name.ends_with(".sql") || path.is_dir() {
            continue;
        }
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(MigrationsError::Unnumbered { path });
        }
        // Leading zeros do not count, and a number too long for u128 still
        // sorts correctly by (length, text).
        let trimmed = digits.trim_start_matches('0').to_string();
        let key = (trimmed.len(), trimmed, name.to_string());
        files.push((key, digits, name.to_string(), path));
    }
    if files.is_empty() {
        return Err(MigrationsError::Empty {
            dir: dir.to_path_buf(),
            expected: "SQL files named like 001_init.sql".into(),
        });
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    every(files.into_iter().map(|(_, version, name, path)| {
        let up = Script::read(&path)?;
        // Plain files have no marker; a file that holds statements which
        // refuse a transaction, or that manages its own, is run the way
        // psql runs a file: statement by statement.
        let transaction = up.fits_in_transaction();
        Ok(Migration {
            up,
            down: None,
            transaction,
            version,
            name,
            path,
        })
    }))
}
