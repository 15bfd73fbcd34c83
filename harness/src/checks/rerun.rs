//! `rerun`: applying the set a second time (every file under `rerun-all`,
//! through the version table under `tracked`) neither errors nor changes
//! the schema or any table's rows. `rerun-bodies`: the same of each body
//! run again right after itself, as warnings (a tracked runner never does
//! that).

use crate::data::DataChange;
use crate::finding::{Check, Finding, Kind, Severity};
use crate::observe::{Observation, Outcome};
use crate::schema::{self, Diff};

/// What a second run changed after a first: the schema difference, if
/// any, and the tables whose rows differ.
fn changes(first: &Outcome, second: &Outcome) -> (Option<Diff>, Vec<DataChange>) {
    let diff = first
        .snapshot
        .as_ref()
        .zip(second.snapshot.as_ref())
        .map(|(a, b)| schema::diff(a, b))
        .filter(|diff| !diff.is_empty());
    let rows = match (&first.data, &second.data) {
        (Some(a), Some(b)) => a.changes(b),
        _ => Vec::new(),
    };
    (diff, rows)
}

pub(super) fn check(observation: &Observation) -> Vec<Finding> {
    let (fresh, Some(rerun)) = (&observation.fresh, &observation.rerun) else {
        // The set did not apply once; `fresh` reports that.
        return Vec::new();
    };
    if !rerun.errors.is_empty() {
        return rerun
            .errors
            .iter()
            .map(|error| super::failed(Kind::RerunFailed, error))
            .collect();
    }
    let mut findings = Vec::new();
    let (diff, rows) = changes(fresh, rerun);
    if let Some(diff) = diff {
        let finding = Finding {
            diff: Some(diff.render("after the first run", "after the second run")),
            ..Finding::new(
                Kind::RerunChanged,
                "the second run changed the schema".to_string(),
            )
        };
        findings.push(super::by_column_order(finding, &diff));
    }
    for change in rows {
        let rows = match (change.rows_before, change.rows_after) {
            (Some(a), Some(b)) if a != b => format!("{a} rows became {b}"),
            _ => "same row count, different contents".to_string(),
        };
        findings.push(Finding::new(
            Kind::RerunChanged,
            format!(
                "the second run changed the rows of {} ({rows})",
                change.table
            ),
        ));
    }
    findings
}

/// `rerun-bodies`: warnings, since they rest on the premise that a body
/// runs twice, which the tracked runner itself never does.
pub(super) fn bodies(observation: &Observation) -> Vec<Finding> {
    let premise = "if this migration's body ever runs a second time (by hand, or with its version-table row lost)";
    let mut findings = Vec::new();
    for rerun in observation.bodies.iter().flatten() {
        let mut mine: Vec<Finding> = rerun
            .after
            .errors
            .iter()
            .map(|error| {
                let mut finding = super::failed(Kind::RerunFailed, error);
                finding.message = format!("{premise}: {}", finding.message);
                finding
            })
            .collect();
        let (diff, rows) = changes(&rerun.before, &rerun.after);
        if let Some(diff) = diff {
            mine.push(Finding {
                migration: Some(rerun.migration.clone()),
                diff: Some(diff.render("after it ran", "after its body ran again")),
                ..Finding::new(
                    Kind::RerunChanged,
                    format!("{premise}, it changes the schema"),
                )
            });
        }
        for change in rows {
            mine.push(Finding {
                migration: Some(rerun.migration.clone()),
                ..Finding::new(
                    Kind::RerunChanged,
                    format!("{premise}, it changes the rows of {}", change.table),
                )
            });
        }
        for finding in &mut mine {
            finding.check = Some(Check::RerunBodies);
            finding.severity = Severity::Warning;
        }
        findings.extend(mine);
    }
    findings
}
