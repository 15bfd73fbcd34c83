//! Migration sets: the ordered migrations of a directory, each split into
//! statements with their file positions by the real Postgres parser.
//!
//! This module reads files and parses SQL; it never talks to a server.

mod plain;
mod split;

use std::path::{Path, PathBuf};

pub use split::{Statement, TxNeed};

/// The ordered migrations read from one directory.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    pub dir: PathBuf,
    pub migrations: Vec<Migration>,
}

/// One migration: a file (or, in other formats, a pair of files).
#[derive(Debug, Clone)]
pub struct Migration {
    /// The version as written in the file name ("006" stays "006").
    pub version: String,
    /// The file name, as findings report it.
    pub name: String,
    pub path: PathBuf,
    pub up: Script,
}

/// The SQL of one file and its statements.
#[derive(Debug, Clone)]
pub struct Script {
    pub sql: String,
    pub statements: Vec<Statement>,
}

/// The directory layouts migcheck reads. Only plain numbered files for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    #[default]
    Auto,
    Plain,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationsError {
    #[error("cannot read migrations directory {}: {source}", dir.display())]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no migrations: expected SQL files named like 001_init.sql", dir.display())]
    Empty { dir: PathBuf },
    #[error(
        "{}: cannot tell where this migration goes: plain migrations are named with a leading number, like 001_init.sql",
        path.display()
    )]
    Unnumbered { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not UTF-8 text; migrations must be UTF-8 SQL files", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}:{line}:{column}: does not parse as SQL: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("no migration with version `{version}` in {}; versions are: {known}", dir.display())]
    UnknownVersion {
        dir: PathBuf,
        version: String,
        known: String,
    },
}

impl MigrationSet {
    /// Reads the set in `dir`, in the given format.
    pub fn load(dir: &Path, format: Format) -> Result<MigrationSet, MigrationsError> {
        match format {
            Format::Auto | Format::Plain => plain::load(dir),
        }
    }

    /// How many migrations lead up to and include `version`: the length
    /// of the prefix for an "applied up to version k" legacy state.
    /// Versions compare numerically, so "3" finds "003".
    pub fn prefix_len(&self, version: &str) -> Result<usize, MigrationsError> {
        let wanted = version.trim_start_matches('0');
        self.migrations
            .iter()
            .rposition(|m| m.version.trim_start_matches('0') == wanted)
            .map(|i| i + 1)
            .ok_or_else(|| MigrationsError::UnknownVersion {
                dir: self.dir.clone(),
                version: version.to_string(),
                known: self
                    .migrations
                    .iter()
                    .map(|m| m.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// All statements of the set, for the sandbox choice.
    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.migrations.iter().flat_map(|m| m.up.statements.iter())
    }
}

impl Script {
    /// Parses `sql`; `path` names the file in errors.
    pub fn parse(path: &Path, sql: String) -> Result<Script, MigrationsError> {
        let statements = split::split(&sql).map_err(|e| MigrationsError::Parse {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        Ok(Script { sql, statements })
    }

    /// Reads and parses a SQL file.
    pub fn read(path: &Path) -> Result<Script, MigrationsError> {
        let bytes = std::fs::read(path).map_err(|source| MigrationsError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        let sql = String::from_utf8(bytes).map_err(|_| MigrationsError::NotUtf8 {
            path: path.to_path_buf(),
        })?;
        Script::parse(path, sql)
    }

    /// The 1-based (line, column) of a byte offset in the file.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        split::line_column(&self.sql, offset)
    }
}
