//! dbmate: `<version>_<name>.sql` files (an integer version, unique in
//! the set as written), ordered as dbmate orders them: by file name, as a
//! string (so `10_b.sql` comes before `9_a.sql`), each holding its up statements after a
//! `-- migrate:up` line and, optionally, its down statements after a
//! `-- migrate:down` line. `-- migrate:up transaction:false` makes the
//! migration non-transactional.
//!
//! ```text
//! migrations/
//!   20240101000000_users.sql
//!   20240102000000_jobs_index.sql
//!
//! 20240102000000_jobs_index.sql:
//!   -- migrate:up transaction:false
//!   CREATE INDEX CONCURRENTLY jobs_user ON jobs (user_id);
//!
//!   -- migrate:down
//!   DROP INDEX jobs_user;
//! ```
//!
//! The sections are parts of one file: both scripts keep the whole file's
//! text, and their statements' offsets and lines are positions in the
//! file. As dbmate does, a file without `-- migrate:up`, with statements
//! before it, or with its down section first is an error; so is a second
//! up or down marker. `Migration::transaction` is the up section's option;
//! the down marker's own options are not kept.

use std::collections::{BTreeMap, btree_map};
use std::path::{Path, PathBuf};

use super::{
    Format, Migration, MigrationsError, Script, every, integer_version, read_text, sql_files,
    sql_stem,
};

const EXPECTED: &str =
    "<version>_<name>.sql with an integer version, like 20240101000000_create_users.sql";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Up,
    Down,
}

/// A `-- migrate:up` or `-- migrate:down` line.
struct Marker<'a> {
    section: Section,
    /// 1-based line number.
    line: usize,
    /// Byte offsets of the line's start and of the next line's start.
    start: usize,
    end: usize,
    /// What follows the marker, like `transaction:false`.
    options: &'a str,
}

/// Whether `text` has a `-- migrate:up` line, which makes a numbered
/// file a dbmate migration.
pub(super) fn has_up_marker(text: &str) -> bool {
    markers(text).iter().any(|m| m.section == Section::Up)
}

fn markers(text: &str) -> Vec<Marker<'_>> {
    let mut markers = Vec::new();
    let mut start = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let end = start + line.len();
        if let Some((section, options)) = marker(line) {
            markers.push(Marker {
                section,
                line: index + 1,
                start,
                end,
                options,
            });
        }
        start = end;
    }
    markers
}

/// dbmate's `^--\s*migrate:(up|down)(\s*$|\s+\S+)`: the section and its
/// options.
fn marker(line: &str) -> Option<(Section, &str)> {
    let rest = line
        .strip_prefix("--")?
        .trim_start()
        .strip_prefix("migrate:")?;
    let (section, after) = if let Some(after) = rest.strip_prefix("up") {
        (Section::Up, after)
    } else {
        (Section::Down, rest.strip_prefix("down")?)
    };
    let options = after.trim();
    (options.is_empty() || after.starts_with(char::is_whitespace)).then_some((section, options))
}

/// dbmate runs a section in a transaction unless its options say
/// `transaction:false` (the last `transaction:` wins).
fn transaction(options: &str) -> bool {
    options
        .split_whitespace()
        .filter_map(|pair| match pair.split(':').collect::<Vec<_>>()[..] {
            ["transaction", value] => Some(value != "false"),
            _ => None,
        })
        .next_back()
        .unwrap_or(true)
}

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, MigrationsError> {
    // dbmate sorts by file name and keys applied migrations by the version
    // as written; `sql_files` gives the names in the same byte order.
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut versions: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in sql_files(dir)? {
        let Some((version, _)) = integer_version(sql_stem(&entry.name)) else {
            return Err(MigrationsError::BadName {
                path: entry.path,
                format: Format::Dbmate,
                expected: EXPECTED,
            });
        };
        let version = version.to_string();
        match versions.entry(version.clone()) {
            btree_map::Entry::Occupied(first) => {
                return Err(MigrationsError::DuplicateVersion {
                    format: Format::Dbmate,
                    version,
                    first: first.get().clone(),
                    second: entry.path,
                });
            }
            btree_map::Entry::Vacant(slot) => {
                slot.insert(entry.path.clone());
            }
        }
        files.push((version, entry.path));
    }
    if files.is_empty() {
        return Err(MigrationsError::Empty {
            dir: dir.to_path_buf(),
            expected: format!("dbmate files named {EXPECTED}"),
        });
    }
    every(
        files
            .into_iter()
            .map(|(version, path)| read(version, &path)),
    )
}

fn read(version: String, path: &Path) -> Result<Migration, MigrationsError> {
    let text = read_text(path)?;
    let markers = markers(&text);
    let sections = |wanted| {
        markers
            .iter()
            .filter(move |m: &&Marker| m.section == wanted)
    };
    let layout = |marker: &Marker, problem| MigrationsError::Sections {
        path: path.to_path_buf(),
        line: marker.line,
        problem,
    };
    let Some(up) = sections(Section::Up).next() else {
        return Err(MigrationsError::NoUpSection {
            path: path.to_path_buf(),
        });
    };
    if let Some(second) = sections(Section::Up).nth(1) {
        return Err(layout(
            second,
            "a second `-- migrate:up`: dbmate reads one up section per file; merge the sections",
        ));
    }
    if let Some(second) = sections(Section::Down).nth(1) {
        return Err(layout(
            second,
            "a second `-- migrate:down`: dbmate reads one down section per file; merge the sections",
        ));
    }
    let down = sections(Section::Down).next();
    if let Some(down) = down.filter(|d| d.start < up.start) {
        return Err(layout(
            down,
            "`-- migrate:down` comes before `-- migrate:up`: dbmate needs the up section first; swap the sections",
        ));
    }
    // dbmate refuses statements outside the sections; only blank and
    // comment lines may come before the up marker.
    let stray = text[..up.start]
        .lines()
        .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"));
    if let Some(index) = stray {
        return Err(MigrationsError::Sections {
            path: path.to_path_buf(),
            line: index + 1,
            problem: "a statement before `-- migrate:up`: dbmate refuses statements outside its sections; move it below the marker",
        });
    }
    let up_range = up.end..down.map_or(text.len(), |d| d.start);
    let down_range = down.map(|d| d.end..text.len());
    let transaction = transaction(up.options);
    Ok(Migration {
        version,
        name: file_name(path),
        path: path.to_path_buf(),
        up: Script::parse_section(path, text.clone(), up_range)?,
        down: down_range
            .map(|range| Script::parse_section(path, text.clone(), range))
            .transpose()?,
        transaction,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        let rendered = markers(text)
            .iter()
            .map(|m| {
                format!(
                    "{:?}@{} {}..{} [{}] tx={}",
                    m.section,
                    m.line,
                    m.start,
                    m.end,
                    m.options,
                    transaction(m.options)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(rendered, expected, "markers of:\n{text}");
    }

    #[test]
    fn markers_follow_dbmates_pattern() {
        check(
            "-- migrate:up\nSELECT 1;\n-- migrate:down\n",
            "Up@1 0..14 [] tx=true\nDown@3 24..40 [] tx=true",
        );
        check(
            "--migrate:up   transaction:false\r\n",
            "Up@1 0..34 [transaction:false] tx=false",
        );
        check(
            "-- migrate:up transaction:false transaction:true foo\n",
            "Up@1 0..53 [transaction:false transaction:true foo] tx=true",
        );
        check("-- migrate:upgrade\n  -- migrate:up\n-- migrate:\n", "");
    }
}
