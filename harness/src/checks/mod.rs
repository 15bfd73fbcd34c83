//! Checks: pure functions from observations to findings. They run nothing
//! and read nothing; everything they judge is in an `Observation`.

pub(crate) mod bench;
pub(crate) mod converge;
pub(crate) mod edited;
mod expect;
mod faults;
mod fresh;
mod locks;
mod merge;
mod rerun;
mod rollback;

use crate::finding::{Check, Finding, Kind, Severity};
use crate::observe::Observation;
use crate::runner::ApplyError;
use crate::scenario::Scenario;
use crate::schema::Diff;

/// The findings of one check. Context fields (scenario, postgres) are
/// filled in by the caller.
pub fn run(check: Check, observation: &Observation, scenario: &Scenario) -> Vec<Finding> {
    match check {
        Check::Fresh => fresh::check(observation),
        Check::Rerun => rerun::check(observation),
        Check::RerunBodies => rerun::bodies(observation),
        Check::Converge => converge::check(observation, scenario),
        Check::Expect => expect::check(observation, &scenario.expect),
        Check::Merge => merge::check(observation),
        Check::Rollback => rollback::check(observation),
        Check::Faults => faults::check(observation),
        Check::Locks => locks::check(observation, scenario.project_rows),
        // Lint reads the migrations, not an observation: see `lint`.
        Check::Lint => Vec::new(),
    }
}

/// A finding that rests on `diff` alone, which the diff renders "(minor)"
/// when only the column order differs: then a warning that says so, as
/// every check judges it (worth knowing, not failing the build).
pub(crate) fn by_column_order(mut finding: Finding, diff: &Diff) -> Finding {
    if diff.is_minor() {
        finding.severity = Severity::Warning;
        finding.message.push_str(" (only the column order differs)");
    }
    finding
}

/// A finding for a statement the server rejected.
pub(crate) fn failed(kind: Kind, error: &ApplyError) -> Finding {
    Finding {
        migration: Some(error.migration.clone()),
        statement: Some(error.statement),
        line: Some(error.line),
        column: Some(error.column),
        sqlstate: error.sqlstate.clone(),
        ..Finding::new(kind, error.message.clone())
    }
}
