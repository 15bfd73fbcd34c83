//! Migration sets: the ordered migrations of a directory, each split into
//! statements with their file positions by the real Postgres parser.
//!
//! One module per directory layout (`plain`, `sqlx`, `golang`, `diesel`,
//! `flyway`, `dbmate`); `detect` picks one when the format is `auto`.
//! Every layout ends up as the same `Migration`s, so nothing outside this
//! module knows which tool wrote the files.
//!
//! This module reads files and parses SQL; it never talks to a server.

mod dbmate;
mod detect;
mod diesel;
mod flyway;
mod golang;
mod lexical;
mod plain;
mod split;
mod sqlx;
mod writes;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub(crate) use diesel::recorded_version as diesel_recorded_version;
pub use split::{Statement, TxNeed};
pub use writes::StatedWrite;

/// The ordered migrations read from one directory.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    pub dir: PathBuf,
    /// The layout the set was read as; never `Format::Auto`.
    pub format: Format,
    pub migrations: Vec<Migration>,
}

/// One migration: a file, a pair of files (up and down), a section pair of
/// one file (dbmate) or a directory (diesel).
#[derive(Debug, Clone)]
pub struct Migration {
    /// The version as written in the name: "006" stays "006", flyway's
    /// "1.2" stays "1.2", diesel's "2023-01-01-000000" keeps its dashes.
    pub version: String,
    /// What findings report as the migration: the file name
    /// (`006_create_tables.sql`, `V3__add_jobs.sql`), the up file for
    /// reversible layouts (`3_jobs.up.sql`), `<dir>/up.sql` for diesel.
    pub name: String,
    /// The file `up` was read from.
    pub path: PathBuf,
    pub up: Script,
    /// The script that reverts `up`, when the layout has one and the set
    /// provides it.
    pub down: Option<Script>,
    /// False when the layout says the up script runs outside a transaction
    /// (sqlx `-- no-transaction`, diesel `run_in_transaction = false`,
    /// dbmate `transaction:false`, flyway `executeInTransaction=false`).
    pub transaction: bool,
}

/// The SQL of one file and its statements.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file the statements come from (a down script's own file).
    pub path: PathBuf,
    /// The whole file's text, also when the statements come from one
    /// section of it (dbmate), so that statement offsets are file offsets.
    pub sql: String,
    pub statements: Vec<Statement>,
    /// Where `sql`'s lines start, for `line_column`.
    lines: split::LineIndex,
}

/// The directory layouts migcheck reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum Format {
    /// Decide from the directory's file names (and markers in the files).
    #[default]
    Auto,
    /// Numbered SQL files: 001_init.sql.
    Plain,
    /// sqlx: <version>_<name>.sql, or .up.sql/.down.sql; `-- no-transaction`.
    Sqlx,
    /// golang-migrate: <n>_<name>.up.sql and .down.sql.
    GolangMigrate,
    /// diesel: <version>_<name>/up.sql, down.sql, metadata.toml.
    Diesel,
    /// Flyway: V<version>__<name>.sql, U<version>__<name>.sql.
    Flyway,
    /// refinery: Flyway's names with integer versions. Auto-detection reads
    /// these files as Flyway; name this format to get refinery's order and
    /// version table.
    Refinery,
    /// dbmate: <version>_<name>.sql with `-- migrate:up` / `-- migrate:down`.
    Dbmate,
}

impl Format {
    /// The name used in scenario files, on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Plain => "plain",
            Format::Sqlx => "sqlx",
            Format::GolangMigrate => "golang-migrate",
            Format::Diesel => "diesel",
            Format::Flyway => "flyway",
            Format::Refinery => "refinery",
            Format::Dbmate => "dbmate",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Appended to messages where naming the layout is the way out.
const NAME_THE_FORMAT: &str = "name the layout with --migrations-format or `format:` in a scenario (plain, sqlx, golang-migrate, diesel, flyway, refinery, dbmate)";

#[derive(Debug, thiserror::Error)]
pub enum MigrationsError {
    #[error("cannot read migrations directory {}", dir.display())]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no migrations: expected {expected}", dir.display())]
    Empty { dir: PathBuf, expected: String },
    #[error(
        "{}: cannot tell where this migration goes: plain migrations are named with a leading number, like 001_init.sql",
        path.display()
    )]
    Unnumbered { path: PathBuf },
    #[error(
        "{}: cannot tell the migration layout from {files}: expected 001_init.sql (plain, sqlx, dbmate), 1_init.up.sql (golang-migrate, sqlx), V1__init.sql (flyway) or 2023-01-01-000000_init/up.sql (diesel); rename the files or {NAME_THE_FORMAT}",
        dir.display()
    )]
    Unrecognised { dir: PathBuf, files: String },
    #[error("{} mixes migration layouts: {layouts}; move the files that do not belong, or {NAME_THE_FORMAT}", dir.display())]
    Mixed { dir: PathBuf, layouts: String },
    #[error("{}: not a {format} migration name: expected {expected}", path.display())]
    BadName {
        path: PathBuf,
        format: Format,
        expected: &'static str,
    },
    #[error(
        "two {format} migrations have version {version}: {} and {}; renumber one of them",
        first.display(),
        second.display()
    )]
    DuplicateVersion {
        format: Format,
        version: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{}: a down migration without its up migration {expected}; add the up migration or remove this file", path.display())]
    DownWithoutUp { path: PathBuf, expected: String },
    #[error(
        "{}: repeatable Flyway migrations (R__) are not supported yet; move it out of the directory to check the versioned migrations",
        path.display()
    )]
    Repeatable { path: PathBuf },
    #[error(
        "{}: no `-- migrate:up` line: dbmate runs only the statements after it; add `-- migrate:up` above them, or {NAME_THE_FORMAT} if this is not a dbmate set",
        path.display()
    )]
    NoUpSection { path: PathBuf },
    #[error("{}:{line}: {problem}", path.display())]
    Sections {
        path: PathBuf,
        line: usize,
        problem: &'static str,
    },
    #[error("{}: a diesel migration directory without up.sql; add up.sql or move the directory out", dir.display())]
    NoUpFile { dir: PathBuf },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Config {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error("{}: not UTF-8 text; migrations must be UTF-8 SQL files", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}:{line}:{column}: does not parse as SQL: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Several files that cannot be read, parsed or understood, all
    /// named in one run rather than one per run.
    #[error("{} migration files cannot be used:\n{}", problems.len(), lines(problems))]
    Several { problems: Vec<MigrationsError> },
    #[error("no migration with version `{version}` in {}; versions are: {known}", dir.display())]
    UnknownVersion {
        dir: PathBuf,
        version: String,
        known: String,
    },
}

impl MigrationSet {
    /// The migrations' names, comma-separated: what an error about an
    /// unknown name lists.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.migrations.iter().map(|m| m.name.as_str()).collect();
        names.join(", ")
    }

    /// The migrations' versions, comma-separated: what an error about an
    /// unknown version lists.
    pub fn versions(&self) -> String {
        let versions: Vec<&str> = self.migrations.iter().map(|m| m.version.as_str()).collect();
        versions.join(", ")
    }

    /// Reads the set in `dir`, in the given format (`Auto`: detected from
    /// the directory's entries).
    pub fn load(dir: &Path, format: Format) -> Result<MigrationSet, MigrationsError> {
        let format = match format {
            Format::Auto => detect::detect(dir)?,
            named => named,
        };
        let migrations = match format {
            Format::Auto => unreachable!("detect names a format"),
            Format::Plain => plain::load(dir)?,
            Format::Sqlx => sqlx::load(dir)?,
            Format::GolangMigrate => golang::load(dir)?,
            Format::Diesel => diesel::load(dir)?,
            Format::Flyway => flyway::load(dir, flyway::Flavour::Flyway)?,
            Format::Refinery => flyway::load(dir, flyway::Flavour::Refinery)?,
            Format::Dbmate => dbmate::load(dir)?,
        };
        Ok(MigrationSet {
            dir: dir.to_path_buf(),
            format,
            migrations,
        })
    }

    /// How many migrations lead up to and include `version`: the length
    /// of the prefix for an "applied up to version k" legacy state.
    /// Versions compare numerically, part by part, so "3" finds "003",
    /// "1.2" finds "1.2.0" and "20230101000000" finds "2023-01-01-000000".
    pub fn prefix_len(&self, version: &str) -> Result<usize, MigrationsError> {
        let wanted = VersionKey::new(version);
        self.migrations
            .iter()
            .rposition(|m| VersionKey::new(&m.version) == wanted)
            .map(|i| i + 1)
            .ok_or_else(|| MigrationsError::UnknownVersion {
                dir: self.dir.clone(),
                version: version.to_string(),
                known: self.versions(),
            })
    }

    /// All statements of the set, for the sandbox choice.
    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.migrations.iter().flat_map(|m| m.up.statements.iter())
    }
}

impl Script {
    /// Whether the script can run inside a transaction as a whole: no
    /// statement refuses one or controls transactions itself.
    pub fn fits_in_transaction(&self) -> bool {
        !self.statements.iter().any(Statement::outside_transaction)
    }

    /// Parses `sql`; `path` names the file in errors.
    pub fn parse(path: &Path, sql: String) -> Result<Script, MigrationsError> {
        let range = 0..sql.len();
        Script::parse_section(path, sql, range)
    }

    /// Parses the part `range` of a file's text `sql` (a dbmate section).
    /// Statement offsets and lines, and parse errors, are positions in the
    /// whole file, and the script keeps the whole text, so `line_column`
    /// maps a statement's offset (plus a position inside it) to the file.
    pub fn parse_section(
        path: &Path,
        sql: String,
        range: Range<usize>,
    ) -> Result<Script, MigrationsError> {
        let lines = split::LineIndex::new(&sql);
        let statements =
            split::split_range(&sql, &lines, range).map_err(|e| MigrationsError::Parse {
                path: path.to_path_buf(),
                line: e.line,
                column: e.column,
                message: e.message,
            })?;
        Ok(Script {
            path: path.to_path_buf(),
            sql,
            statements,
            lines,
        })
    }

    /// Reads and parses a SQL file.
    pub fn read(path: &Path) -> Result<Script, MigrationsError> {
        Script::parse(path, read_text(path)?)
    }

    /// A note for the report per statement the bundled parser rejected:
    /// static analysis (the guard, lint) skipped it, and the server judges
    /// it when it runs.
    pub fn unanalysed(&self) -> impl Iterator<Item = String> + '_ {
        self.statements.iter().filter_map(|s| {
            let message = s.rejected.as_ref()?;
            Some(format!(
                "{}:{}:{}: not analysed by lint or the guard: the bundled parser (Postgres 17's grammar) rejects it ({message}); it runs, and the server judges it",
                self.path.display(),
                s.line,
                s.column
            ))
        })
    }

    /// The 1-based (line, column) of a byte offset in the file.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        self.lines.line_column(&self.sql, offset)
    }
}

/// Every migration, or every problem: a loader reads all of its files
/// before it fails, so that one run names every file to fix (one problem
/// per migration: the first of its files that fails).
fn every(
    results: impl IntoIterator<Item = Result<Migration, MigrationsError>>,
) -> Result<Vec<Migration>, MigrationsError> {
    let (migrations, mut problems): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    match problems.len() {
        0 => Ok(migrations.into_iter().flatten().collect()),
        1 => Err(problems.remove(0).expect_err("partitioned")),
        _ => Err(MigrationsError::Several {
            problems: problems.into_iter().filter_map(Result::err).collect(),
        }),
    }
}

/// The problems' messages, one a line.
fn lines(problems: &[MigrationsError]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    lines.join("\n")
}

/// A file's text, which must be UTF-8, read within `input`'s bounds.
fn read_text(path: &Path) -> Result<String, MigrationsError> {
    let bytes = crate::input::read(path)?;
    String::from_utf8(bytes).map_err(|_| MigrationsError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// One entry of a migrations directory.
struct Entry {
    name: String,
    path: PathBuf,
    is_dir: bool,
}

/// The entries of `dir`, sorted by name so that errors name files in a
/// stable order. Hidden entries (`.keep`, `.git`) and names that are not
/// UTF-8 are left out: no tool reads them as migrations.
fn entries(dir: &Path) -> Result<Vec<Entry>, MigrationsError> {
    let read_dir = |source| MigrationsError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let path = entry.map_err(read_dir)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        entries.push(Entry {
            name: name.to_string(),
            is_dir: path.is_dir(),
            path,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// The `.sql` files of `dir`, sorted by name. Other files (READMEs,
/// Flyway's `.sql.conf`) may live beside the migrations.
fn sql_files(dir: &Path) -> Result<Vec<Entry>, MigrationsError> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|e| !e.is_dir && e.name.ends_with(".sql"))
        .collect())
}

/// A `.sql` file's name without the extension.
fn sql_stem(name: &str) -> &str {
    name.strip_suffix(".sql").unwrap_or(name)
}

/// `<digits>_<rest>`: the version and the rest, for the layouts whose
/// names start with an integer version.
fn integer_version(stem: &str) -> Option<(&str, &str)> {
    let (version, rest) = stem.split_once('_')?;
    let integer = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit());
    integer.then_some((version, rest))
}

/// A version as Flyway compares them: numerically, part by part (parts
/// split on `.` and `_`), leading zeros and trailing zero parts not
/// counting: "006" = "6", "1.0" = "1", "1.2" < "1.10". Dashes are left
/// out, so that `prefix_len` also finds diesel's "2023-01-01-000000" when
/// a user writes "20230101000000".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct VersionKey(Vec<(usize, String)>);

impl VersionKey {
    fn new(version: &str) -> VersionKey {
        // A number longer than any integer type still compares correctly
        // as (length, digits) once its leading zeros are gone.
        let mut parts: Vec<_> = version
            .replace('-', "")
            .split(['.', '_'])
            .map(|part| {
                let digits = part.trim_start_matches('0');
                (digits.len(), digits.to_string())
            })
            .collect();
        while parts.last().is_some_and(|(len, _)| *len == 0) {
            parts.pop();
        }
        VersionKey(parts)
    }
}

/// Whether a file is an up (or a simple, one-way) migration or a down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// One file of a layout that keeps up and down in separate files.
struct Part {
    version: String,
    direction: Direction,
    entry: Entry,
}

/// An up file and its down file, if any.
struct Pair {
    version: String,
    up: Entry,
    down: Option<Entry>,
}

/// The `.up.sql`/`.down.sql` files of `dir` (and, where `one_way` gives
/// their stem, one-way files), paired by version and ordered as the
/// format's runner orders them. `key` is that order's key of the leading
/// integer of a name, `None` when it is not a version of this format;
/// `expected` describes good names in errors.
fn up_down_pairs<K: Ord>(
    dir: &Path,
    format: Format,
    expected: &'static str,
    one_way: impl Fn(&str) -> Option<&str>,
    key: impl Fn(&str) -> Option<K>,
) -> Result<Vec<Pair>, MigrationsError> {
    let mut parts = Vec::new();
    for entry in sql_files(dir)? {
        let name = entry.name.as_str();
        let (stem, direction) = if let Some(stem) = name.strip_suffix(".up.sql") {
            (Some(stem), Direction::Up)
        } else if let Some(stem) = name.strip_suffix(".down.sql") {
            (Some(stem), Direction::Down)
        } else {
            (one_way(name), Direction::Up)
        };
        let version = match stem.and_then(integer_version) {
            Some((version, _)) if key(version).is_some() => version.to_string(),
            _ => {
                return Err(MigrationsError::BadName {
                    path: entry.path,
                    format,
                    expected,
                });
            }
        };
        parts.push(Part {
            version,
            direction,
            entry,
        });
    }
    if parts.is_empty() {
        return Err(MigrationsError::Empty {
            dir: dir.to_path_buf(),
            expected: format!("{format} files named {expected}"),
        });
    }
    pair(
        format,
        parts,
        |version| key(version).expect("checked above"),
        |down| down.entry.name.replace(".down.sql", ".up.sql"),
    )
}

/// Groups the files of `format` into up/down pairs ordered by `key`, the
/// format's own order of versions (two versions with one key are one
/// version to its runner). Two ups (or two downs) with one version are an
/// error, and so is a down without its up; `expected_up` names the up a
/// down is missing.
fn pair<K: Ord>(
    format: Format,
    parts: Vec<Part>,
    key: impl Fn(&str) -> K,
    expected_up: impl Fn(&Part) -> String,
) -> Result<Vec<Pair>, MigrationsError> {
    let mut slots: BTreeMap<K, (Option<Part>, Option<Part>)> = BTreeMap::new();
    for part in parts {
        let slot = slots.entry(key(&part.version)).or_default();
        let taken = match part.direction {
            Direction::Up => &mut slot.0,
            Direction::Down => &mut slot.1,
        };
        if let Some(first) = taken {
            return Err(MigrationsError::DuplicateVersion {
                format,
                version: part.version,
                first: first.entry.path.clone(),
                second: part.entry.path,
            });
        }
        *taken = Some(part);
    }
    slots
        .into_values()
        .map(|slot| match slot {
            (Some(up), down) => Ok(Pair {
                version: up.version,
                up: up.entry,
                down: down.map(|d| d.entry),
            }),
            (None, Some(down)) => Err(MigrationsError::DownWithoutUp {
                expected: expected_up(&down),
                path: down.entry.path,
            }),
            (None, None) => unreachable!("a slot is created with its first part"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(versions: &[&str], expected: &str) {
        let mut sorted = versions.to_vec();
        sorted.sort_by_key(|v| VersionKey::new(v));
        let rendered = sorted
            .windows(2)
            .map(|w| {
                let order = match VersionKey::new(w[0]).cmp(&VersionKey::new(w[1])) {
                    std::cmp::Ordering::Less => "<",
                    std::cmp::Ordering::Equal => "=",
                    std::cmp::Ordering::Greater => ">",
                };
                format!("{} {order} ", w[0])
            })
            .collect::<String>()
            + sorted.last().unwrap_or(&"");
        assert_eq!(rendered, expected, "ordering {versions:?}");
    }

    #[test]
    fn versions_compare_numerically_part_by_part() {
        check(&["10", "9", "009", "1"], "1 < 9 = 009 < 10");
        check(&["1.10", "1.2", "1.2.0", "1"], "1 < 1.2 = 1.2.0 < 1.10");
        check(&["1_1", "1.1", "2"], "1_1 = 1.1 < 2");
        check(
            &["2023-01-02-000000", "00000000000000", "20230101000000"],
            "00000000000000 < 20230101000000 < 2023-01-02-000000",
        );
        check(
            &["123456789012345678901234567890123456789012", "99"],
            "99 < 123456789012345678901234567890123456789012",
        );
    }
}
