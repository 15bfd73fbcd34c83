//! `faults`: an interrupted migration leaves nothing half done. A
//! transactional migration interrupted at any statement leaves the state
//! from before it, and after any interruption the next deploy converges
//! to a fresh install (`partial-apply`); no interrupted path ends with an
//! INVALID index or a NOT VALID constraint that the fresh install does not
//! end with (`invalid-leftover`).

use std::collections::{BTreeMap, BTreeSet};

use crate::finding::{Finding, Kind};
use crate::observe::Observation;
use crate::observe::faults::{FaultPath, FaultsObservation};
use crate::schema::{self, Change, ObjectKind, Snapshot};

pub(super) fn check(observation: &Observation) -> Vec<Finding> {
    let Some(faults) = &observation.faults else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for path in &faults.paths {
        if let Some(finding) = not_atomic(faults, path) {
            findings.push(finding);
        }
    }
    findings.extend(not_converging(faults));
    findings.extend(invalid_leftovers(faults));
    findings
}

/// Where a path was interrupted, for messages.
fn place(path: &FaultPath) -> String {
    format!(
        "statement {} of {} {}",
        path.statement,
        path.migration,
        path.how.as_str()
    )
}

fn located(kind: Kind, path: &FaultPath, message: String) -> Finding {
    Finding {
        migration: Some(path.migration.clone()),
        statement: Some(path.statement),
        line: Some(path.line),
        ..Finding::new(kind, message)
    }
}

/// (a): a transactional migration interrupted must leave the state from
/// before it.
fn not_atomic(faults: &FaultsObservation, path: &FaultPath) -> Option<Finding> {
    let before = faults.before.get(&path.index)?;
    if !path.atomic || *before == path.left {
        return None;
    }
    let diff = schema::diff(&before.snapshot, &path.left.snapshot);
    let changed_rows: Vec<&String> = before
        .data
        .tables
        .iter()
        .filter(|(table, rows)| {
            !schema::is_bookkeeping(table) && path.left.data.tables.get(*table) != Some(*rows)
        })
        .map(|(table, _)| table)
        .collect();
    if diff.is_empty() && changed_rows.is_empty() {
        return None;
    }
    let mut what = Vec::new();
    if !diff.is_empty() {
        what.push(format!(
            "{} schema difference{}",
            diff.changes.len(),
            if diff.changes.len() == 1 { "" } else { "s" }
        ));
    }
    if !changed_rows.is_empty() {
        let tables: Vec<&str> = changed_rows.iter().map(|t| t.as_str()).collect();
        what.push(format!("changed rows in {}", tables.join(", ")));
    }
    Some(Finding {
        diff: (!diff.is_empty())
            .then(|| diff.render("before the migration", &format!("after {}", place(path)))),
        ..located(
            Kind::PartialApply,
            path,
            format!(
                "{} runs in a transaction, but when {} it left part of itself committed ({}), after statement {}",
                path.migration,
                place(path),
                what.join(", "),
                path.statement - 1
            ),
        )
    })
}

/// (b): the next deploy after each interruption applies and ends like a
/// fresh install. Paths that end the same way are one finding.
fn not_converging(faults: &FaultsObservation) -> Vec<Finding> {
    let Some(fresh) = &faults.fresh else {
        return Vec::new();
    };
    // By (interrupted migration, what went wrong): the first path, and how
    // many more.
    let mut groups: BTreeMap<(String, String), (Finding, usize)> = BTreeMap::new();
    for path in &faults.paths {
        let finding = match &path.recovery {
            None => continue,
            Some(Err(error)) => Finding {
                sqlstate: error.sqlstate.clone(),
                ..located(
                    Kind::PartialApply,
                    path,
                    format!(
                        "after {} (interrupted after statement {}), the next deploy fails at {}:{}: {}",
                        place(path),
                        path.statement - 1,
                        error.migration,
                        error.line,
                        error.message
                    ),
                )
            },
            Some(Ok(end)) => {
                let mut diff = schema::diff(fresh, end);
                // An object left invalid is `invalid-leftover`'s to report.
                diff.retain(|c| !only_validity(c));
                if diff.is_empty() {
                    continue;
                }
                let finding = Finding {
                    diff: Some(diff.render(
                        "after a fresh install",
                        &format!("after {} and the next deploy", place(path)),
                    )),
                    ..located(
                        Kind::PartialApply,
                        path,
                        format!(
                            "after {} (interrupted after statement {}), the next deploy applies but ends with a different schema than a fresh install ({} difference{})",
                            place(path),
                            path.statement - 1,
                            diff.changes.len(),
                            if diff.changes.len() == 1 { "" } else { "s" }
                        ),
                    )
                };
                super::by_column_order(finding, &diff)
            }
        };
        let what = match &path.recovery {
            Some(Err(e)) => format!("{} {} {}", e.migration, e.statement, e.message),
            _ => finding.diff.clone().unwrap_or_default(),
        };
        groups
            .entry((path.migration.clone(), what))
            .and_modify(|(_, n)| *n += 1)
            .or_insert((finding, 0));
    }
    groups
        .into_values()
        .map(|(mut finding, more)| {
            if more > 0 {
                finding.message.push_str(&format!(
                    " (and the same after {more} other interruption{} of this migration)",
                    if more == 1 { "" } else { "s" }
                ));
            }
            finding
        })
        .collect()
}

fn only_validity(change: &Change) -> bool {
    matches!(change, Change::Differs { attr, right, .. }
        if (attr == "valid" || attr == "validated") && right.as_deref() == Some("false"))
}

/// INVALID indexes and NOT VALID constraints where an interrupted path
/// ends (after the next deploy, or where the interruption left the
/// database when no deploy followed) that the fresh install does not end
/// with: a `NOT VALID` the set adds on purpose (to validate later, without
/// a long lock) is its design, not a leftover. One finding per object.
fn invalid_leftovers(faults: &FaultsObservation) -> Vec<Finding> {
    let by_design: BTreeSet<String> = faults
        .fresh
        .as_ref()
        .map(|fresh| invalid(fresh).into_iter().map(|(key, _)| key).collect())
        .unwrap_or_default();
    let mut seen: BTreeMap<String, (Finding, usize)> = BTreeMap::new();
    for path in &faults.paths {
        let (end, how) = match &path.recovery {
            Some(Ok(end)) => (end, "and the next deploy"),
            _ => (&path.left.snapshot, "(no deploy after it)"),
        };
        for (key, what) in invalid(end) {
            if by_design.contains(&key) {
                continue;
            }
            seen.entry(key)
                .and_modify(|(_, n)| *n += 1)
                .or_insert_with(|| {
                    (
                        located(
                            Kind::InvalidLeftover,
                            path,
                            format!("{what} after {} {how}", place(path)),
                        ),
                        0,
                    )
                });
        }
    }
    seen.into_values()
        .map(|(mut finding, more)| {
            if more > 0 {
                finding.message.push_str(&format!(
                    " (and after {more} other path{})",
                    if more == 1 { "" } else { "s" }
                ));
            }
            finding
        })
        .collect()
}

/// Invalid objects of a snapshot: key and a phrase naming them.
fn invalid(snapshot: &Snapshot) -> Vec<(String, String)> {
    snapshot
        .objects
        .iter()
        .filter_map(|(key, object)| match object.kind {
            ObjectKind::Index if object.attr("valid") == Some("false") => {
                Some((key.clone(), format!("index {} is INVALID", object.name)))
            }
            ObjectKind::Constraint if object.attr("validated") == Some("false") => Some((
                key.clone(),
                format!("constraint {} is NOT VALID", object.name),
            )),
            _ => None,
        })
        .collect()
}
