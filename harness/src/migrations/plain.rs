//! Plain numbered SQL files: `001_init.sql`, `2-add-jobs.sql`, ordered by
//! the numeric value of the leading number, then by name.

use std::path::Path;

use super::{Migration, MigrationSet, MigrationsError, Script};

pub(super) fn load(dir: &Path) -> Result<MigrationSet, MigrationsError> {
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
        // Other files (READMEs, fixtures) may live beside the migrations.
        if !name.ends_with(".sql") || !path.is_file() {
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
        });
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let migrations = files
        .into_iter()
        .map(|(_, version, name, path)| {
            Ok(Migration {
                up: Script::read(&path)?,
                version,
                name,
                path,
            })
        })
        .collect::<Result<_, MigrationsError>>()?;
    Ok(MigrationSet {
        dir: dir.to_path_buf(),
        migrations,
    })
}
