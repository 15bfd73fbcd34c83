//! `edited-after-release`: a migration whose up script differs from the
//! one a deployed version of the set had (git history). What that does
//! depends on the runner: the tools that keep a checksum of each applied
//! migration refuse to start on those databases (an error); other tracked
//! runners never run it again there, so those databases never get the
//! change (a warning: the converge case from that version shows what they
//! lack); a rerun-all runner runs it again at the next start (a warning:
//! editing is how such sets change, and the converge case judges it).

use crate::finding::{Finding, Kind, Severity};
use crate::git::past::Edit;
use crate::migrations::{Format, MigrationSet};
use crate::runner::RunnerMode;

pub(crate) fn findings(edits: &[Edit], set: &MigrationSet, runner: RunnerMode) -> Vec<Finding> {
    let checksums = runner == RunnerMode::Tracked
        && matches!(set.format, Format::Sqlx | Format::Flyway | Format::Refinery);
    edits
        .iter()
        // An edit of spaces and comments changes nothing a database gets;
        // only a runner that keeps checksums cares.
        .filter(|edit| edit.statements_changed || checksums)
        .map(|edit| {
            let version = set
                .migrations
                .iter()
                .find(|m| m.name == edit.migration)
                .map_or("", |m| m.version.as_str());
            let deployed = edit.deployed.describe();
            let (severity, what) = consequence(set.format, runner, version, &deployed);
            let change = match edit.old.trim_end() == edit.new.trim_end() {
                true => format!("line {} changed in whitespace only", edit.line),
                false => format!(
                    "line {} was `{}`, is `{}`",
                    edit.line,
                    edit.old.trim_end(),
                    edit.new.trim_end()
                ),
            };
            Finding {
                severity,
                diff: Some(edit.hunk.clone()),
                migration: Some(edit.migration.clone()),
                line: Some(edit.line),
                column: Some(1),
                ..Finding::new(
                    Kind::EditedAfterRelease,
                    format!(
                        "{} was edited after it was deployed at {deployed}: {change}; {what}",
                        edit.migration,
                    ),
                )
            }
        })
        .collect()
}

/// The severity, and what happens to the databases deployed before the
/// edit.
fn consequence(
    format: Format,
    runner: RunnerMode,
    version: &str,
    deployed: &str,
) -> (Severity, String) {
    let fix = "revert the edit and make the change in a new migration";
    match (runner, format) {
        (RunnerMode::Tracked, Format::Sqlx) => (
            Severity::Error,
            format!(
                "sqlx keeps a checksum of every applied migration, so on every database deployed at {deployed} or before it refuses to start: \"migration {version} was previously applied but has been modified\"; {fix}"
            ),
        ),
        (RunnerMode::Tracked, Format::Flyway | Format::Refinery) => (
            Severity::Error,
            format!(
                "Flyway and refinery keep a checksum of every applied migration, so on every database deployed at {deployed} or before, Flyway's validate fails (\"Migration checksum mismatch for migration version {version}\") and refinery refuses to migrate (\"applied migration ... is different than filesystem one\"); {fix}"
            ),
        ),
        (RunnerMode::Tracked, _) => (
            Severity::Warning,
            format!(
                "the runner records applied versions and never runs {version} again, so databases deployed at {deployed} or before never get the edit; the converge check from that version shows what they lack; {fix}"
            ),
        ),
        (RunnerMode::RerunAll, _) => (
            Severity::Warning,
            format!(
                "every start runs it again, so databases deployed at {deployed} or before get it at their next start; the converge check from that version shows whether they can"
            ),
        ),
    }
}
