//! `rerun`: applying the whole set a second time (`rerun-all`), or each
//! migration's body again (`tracked`), neither errors nor changes the
//! schema or any table's rows.

use crate::finding::{Finding, Kind};
use crate::observe::Observation;
use crate::schema;

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
    if let (Some(first), Some(second)) = (&fresh.snapshot, &rerun.snapshot) {
        let diff = schema::diff(first, second);
        if !diff.is_empty() {
            let finding = Finding {
                diff: Some(diff.render("after the first run", "after the second run")),
                ..Finding::new(
                    Kind::RerunChanged,
                    "the second run changed the schema".to_string(),
                )
            };
            findings.push(super::by_column_order(finding, &diff));
        }
    }
    if let (Some(first), Some(second)) = (&fresh.data, &rerun.data) {
        for change in first.changes(second) {
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
    }
    findings
}
