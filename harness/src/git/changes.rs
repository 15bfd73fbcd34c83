//! Which migrations a branch adds (`--changed-since REV`), for the
//! merge-order check, and which scenarios it touches. Reads only.

use std::path::Path;

use crate::migrations::MigrationSet;
use crate::scenario::{MergeGroups, Scenario};

/// The branch: migrations whose files were added since `rev` (committed or
/// not, tracked or not). The main side: migrations of the set that `rev`
/// added since its merge base with HEAD (present once the branch is rebased
/// or merged; when none are, the check falls back to the migrations that
/// sort after the branch's first one).
pub fn merge_groups(rev: &str, set: &MigrationSet) -> Result<MergeGroups, crate::Error> {
    let dir = &set.dir;
    let mut added = git(
        dir,
        &[
            "diff",
            "--name-only",
            "--diff-filter=AR",
            "--relative",
            rev,
            "--",
            ".",
        ],
    )?;
    added.extend(git(
        dir,
        &["ls-files", "--others", "--exclude-standard", "--", "."],
    )?);
    let upstream = git(
        dir,
        &[
            "diff",
            "--name-only",
            "--diff-filter=AR",
            "--relative",
            &format!("HEAD...{rev}"),
            "--",
            ".",
        ],
    )?;
    Ok(MergeGroups {
        branch: named(set, &added),
        main: named(set, &upstream),
    })
}

/// Whether `path` (a file or a directory) differs from `rev`: changed,
/// added or removed since, committed or not, or untracked.
pub fn touched(rev: &str, path: &Path) -> Result<bool, crate::Error> {
    let (dir, name) = match path.is_dir() {
        true => (path.to_path_buf(), ".".to_owned()),
        false => (
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        ),
    };
    let changed = git(&dir, &["diff", "--name-only", rev, "--", &name])?;
    if !changed.is_empty() {
        return Ok(true);
    }
    let untracked = git(
        &dir,
        &["ls-files", "--others", "--exclude-standard", "--", &name],
    )?;
    Ok(!untracked.is_empty())
}

/// `verify --changed-since REV`: the scenarios whose file or migration
/// directory the branch touched; those whose migrations it touched upgrade
/// from the set at the merge base with REV and get the merge-order check
/// for the migrations the branch added (unless the scenario names its own).
pub fn select(rev: &str, scenarios: Vec<Scenario>) -> Result<Vec<Scenario>, crate::Error> {
    let mut selected = Vec::new();
    for mut scenario in scenarios {
        let file = match &scenario.file {
            Some(file) => touched(rev, file)?,
            None => false,
        };
        let migrations = touched(rev, &scenario.migrations)?;
        if !file && !migrations {
            continue;
        }
        if migrations {
            // Databases deployed from `rev` hold its set: the branch's
            // upgrades from it.
            scenario.base = Some(rev.to_owned());
        }
        if migrations && scenario.merge.is_none() {
            let set = MigrationSet::load(&scenario.migrations, scenario.format)?;
            let groups = merge_groups(rev, &set)?;
            if !groups.branch.is_empty() {
                scenario.merge = Some(groups);
            }
        }
        selected.push(scenario);
    }
    Ok(selected)
}

/// The migrations some of `files` (relative to the set's directory) belong to.
fn named(set: &MigrationSet, files: &[String]) -> Vec<String> {
    let dir = &set.dir;
    set.migrations
        .iter()
        .filter(|m| {
            files.iter().any(|file| {
                let file = dir.join(file);
                file == m.path || file.starts_with(&m.path)
            })
        })
        .map(|m| m.name.clone())
        .collect()
}

/// `git` in `dir`, its output's lines; a failure is a `--changed-since` error.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<String>, crate::Error> {
    super::lines(dir, args).map_err(|e| crate::Error::Changes(e.to_string()))
}
