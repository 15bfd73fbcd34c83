//! Flyway and refinery: `V<version>__<name>.sql` versioned migrations and
//! `U<version>__<name>.sql` undo migrations (the down of the `V` with the
//! same version). Flyway's versions compare numerically part by part
//! (`MigrationVersion`: parts split by `.` or `_`; `V1.2` < `V1.10`,
//! `V1_1` = `V1.1`, `V1` = `V1.0`); refinery's are integers (an `i32`,
//! `V9` < `V10`), and a dotted version is not a refinery name.
//!
//! ```text
//! migrations/
//!   V1__users.sql
//!   V1.1__users_email.sql
//!   V2__jobs.sql
//!   V2__jobs.sql.conf          executeInTransaction=false
//!   U2__jobs.sql
//! ```
//!
//! A Flyway script configuration file (`<file>.sql.conf`) saying
//! `executeInTransaction=false` makes the migration non-transactional;
//! its other keys are left alone.
//!
//! Not read: repeatable migrations (`R__<name>.sql`) are an error naming
//! the file, since when Flyway reruns them depends on their checksums; and
//! refinery's `U` prefix, which there means "unversioned" (not undo), is
//! read as Flyway's undo, so a refinery `U` without its `V` is reported.

use std::path::{Path, PathBuf};

use super::{
    Direction, Entry, Format, Migration, MigrationsError, Part, Script, VersionKey, every, pair,
    sql_files, sql_stem,
};

const EXPECTED: &str = "V<version>__<name>.sql or U<version>__<name>.sql, the version numbers separated by dots, like V1.2__add_jobs.sql";
const EXPECTED_REFINERY: &str = "V<version>__<name>.sql or U<version>__<name>.sql with an integer version, like V2__add_jobs.sql";

/// Which tool reads the files: they differ in their versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavour {
    Flyway,
    Refinery,
}

impl Flavour {
    fn format(self) -> Format {
        match self {
            Flavour::Flyway => Format::Flyway,
            Flavour::Refinery => Format::Refinery,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Flavour::Flyway => EXPECTED,
            Flavour::Refinery => EXPECTED_REFINERY,
        }
    }

    /// Whether `version` is one this tool reads.
    fn reads(self, version: &str) -> bool {
        match self {
            Flavour::Flyway => version
                .split(['.', '_'])
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
            Flavour::Refinery => refinery_version(version).is_some(),
        }
    }
}

/// refinery's version: the digits parsed as its `SchemaVersion`, an i32.
fn refinery_version(version: &str) -> Option<i32> {
    version
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| version.parse().ok())
        .flatten()
}

pub(super) fn load(dir: &Path, flavour: Flavour) -> Result<Vec<Migration>, MigrationsError> {
    let mut parts = Vec::new();
    for entry in sql_files(dir)? {
        parts.push(part(entry, flavour)?);
    }
    if parts.is_empty() {
        return Err(MigrationsError::Empty {
            dir: dir.to_path_buf(),
            expected: format!("{} files named {}", flavour.format(), flavour.expected()),
        });
    }
    let undo = |undo: &Part| {
        format!(
            "V{}__<name>.sql (U is Flyway's undo; refinery's unversioned U migrations are not read yet)",
            undo.version
        )
    };
    let pairs = match flavour {
        Flavour::Flyway => pair(flavour.format(), parts, VersionKey::new, undo)?,
        Flavour::Refinery => pair(
            flavour.format(),
            parts,
            |v| refinery_version(v).expect("checked by part"),
            undo,
        )?,
    };
    every(pairs.into_iter().map(|pair| {
        Ok(Migration {
            transaction: execute_in_transaction(&pair.up.path)?,
            up: Script::read(&pair.up.path)?,
            down: pair.down.map(|d| Script::read(&d.path)).transpose()?,
            version: pair.version,
            name: pair.up.name,
            path: pair.up.path,
        })
    }))
}

fn part(entry: Entry, flavour: Flavour) -> Result<Part, MigrationsError> {
    let stem = sql_stem(&entry.name);
    if stem.starts_with("R__") {
        return Err(MigrationsError::Repeatable { path: entry.path });
    }
    let parsed = match stem.split_at_checked(1) {
        Some(("V", rest)) => Some((Direction::Up, rest)),
        Some(("U", rest)) => Some((Direction::Down, rest)),
        _ => None,
    };
    let versioned = parsed.and_then(|(direction, rest)| {
        let (version, _name) = rest.split_once("__")?;
        flavour
            .reads(version)
            .then(|| (direction, version.to_string()))
    });
    match versioned {
        Some((direction, version)) => Ok(Part {
            version,
            direction,
            entry,
        }),
        None => Err(MigrationsError::BadName {
            path: entry.path,
            format: flavour.format(),
            expected: flavour.expected(),
        }),
    }
}

/// Reads `executeInTransaction` from the script configuration file beside
/// `script`, if there is one.
fn execute_in_transaction(script: &Path) -> Result<bool, MigrationsError> {
    let mut conf = script.as_os_str().to_owned();
    conf.push(".conf");
    let conf = PathBuf::from(conf);
    if !conf.exists() {
        return Ok(true);
    }
    let text = super::read_text(&conf)?;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "executeInTransaction" {
            continue;
        }
        let value = value.trim();
        if value.eq_ignore_ascii_case("true") {
            return Ok(true);
        }
        if value.eq_ignore_ascii_case("false") {
            return Ok(false);
        }
        return Err(MigrationsError::Config {
            column: raw.chars().take_while(|c| c.is_whitespace()).count() + 1,
            path: conf,
            line: index + 1,
            message: format!("executeInTransaction is `{value}`; write true or false"),
        });
    }
    Ok(true)
}
