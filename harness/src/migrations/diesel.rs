//! diesel: one directory per migration, `<version>_<name>/`, holding
//! `up.sql`, `down.sql` (optional since diesel 2.1's `--no-down`) and an
//! optional `metadata.toml` whose `run_in_transaction = false` makes the
//! migration non-transactional. The version is the leading digits and
//! dashes of the directory name. As diesel does (`version_from_string`,
//! and `MigrationVersion`, a string), the set is ordered by the version
//! with its dashes left out, compared as a string: `2017-01-01-000000`
//! and `20170101000000` are the same version, and `9_a` comes after
//! `10_b`. Versions must be unique.
//!
//! ```text
//! migrations/
//!   00000000000000_diesel_initial_setup/
//!     up.sql
//!     down.sql
//!   2023-01-01-000000_create_users/
//!     up.sql
//!     down.sql
//!   2023-02-01-000000_users_email_index/
//!     up.sql
//!     down.sql
//!     metadata.toml        run_in_transaction = false
//!   .keep                  (files beside the directories are left alone)
//! ```
//!
//! A migration is named `<dir>/up.sql` in findings. Keys of
//! `metadata.toml` other than `run_in_transaction` are ignored, as diesel
//! ignores them.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Format, Migration, MigrationsError, Script, entries, every, read_text};

const EXPECTED: &str = "<version>_<name>/ directories, the version made of digits and dashes, like 2023-01-01-000000_create_users";

#[derive(serde::Deserialize)]
struct Metadata {
    #[serde(default = "yes")]
    run_in_transaction: bool,
}

fn yes() -> bool {
    true
}

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, MigrationsError> {
    let mut migrations = BTreeMap::new();
    for entry in entries(dir)?.into_iter().filter(|e| e.is_dir) {
        let version = entry.name.split_once('_').map(|(version, _)| version);
        let Some(version) = version.filter(|v| {
            v.bytes().any(|b| b.is_ascii_digit())
                && v.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        }) else {
            return Err(MigrationsError::BadName {
                path: entry.path,
                format: Format::Diesel,
                expected: EXPECTED,
            });
        };
        let up = entry.path.join("up.sql");
        if !up.exists() {
            return Err(MigrationsError::NoUpFile { dir: entry.path });
        }
        let down = entry.path.join("down.sql");
        let read = || {
            Ok(Migration {
                version: version.to_string(),
                name: format!("{}/up.sql", entry.name),
                up: Script::read(&up)?,
                down: if down.exists() {
                    Some(Script::read(&down)?)
                } else {
                    None
                },
                transaction: run_in_transaction(&entry.path.join("metadata.toml"))?,
                path: up.clone(),
            })
        };
        if let Some(first) = migrations.insert(recorded_version(version), (read(), up.clone())) {
            return Err(MigrationsError::DuplicateVersion {
                format: Format::Diesel,
                version: version.to_string(),
                first: first.1.parent().unwrap_or(&first.1).to_path_buf(),
                second: entry.path,
            });
        }
    }
    if migrations.is_empty() {
        return Err(MigrationsError::Empty {
            dir: dir.to_path_buf(),
            expected: format!("diesel migrations: {EXPECTED}, each holding up.sql"),
        });
    }
    every(migrations.into_values().map(|(migration, _)| migration))
}

/// The version as diesel orders and records it: without its dashes.
pub(crate) fn recorded_version(version: &str) -> String {
    version.replace('-', "")
}

fn run_in_transaction(path: &Path) -> Result<bool, MigrationsError> {
    // Whatever is there is read: one that is not a regular file is an
    // error that says so, not a file silently left out.
    if !path.exists() {
        return Ok(true);
    }
    let text = read_text(path)?;
    match toml::from_str::<Metadata>(&text) {
        Ok(metadata) => Ok(metadata.run_in_transaction),
        Err(e) => {
            let (line, column) =
                super::split::line_column(&text, e.span().map_or(0, |span| span.start));
            Err(MigrationsError::Config {
                path: path.to_path_buf(),
                line,
                column,
                message: format!(
                    "not diesel metadata: {}; diesel reads `run_in_transaction = true` or `false` here",
                    e.message().trim_end()
                ),
            })
        }
    }
}
