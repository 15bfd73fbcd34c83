//! `converge`: from every legacy state the set applies, and ends with the
//! same schema as a fresh install.

use crate::finding::{Finding, Kind, Severity};
use crate::observe::Observation;
use crate::runner::ApplyError;
use crate::scenario::{MayKeep, Scenario};
use crate::schema::{self, Change, ObjectKind, Snapshot};

pub(super) fn check(observation: &Observation, scenario: &Scenario) -> Vec<Finding> {
    let Some(fresh) = &observation.fresh.snapshot else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for legacy in &observation.legacy {
        let upgraded = match (legacy.outcome.errors.first(), &legacy.outcome.snapshot) {
            (Some(error), _) => Err(error),
            (None, Some(snapshot)) => Ok(snapshot),
            (None, None) => continue,
        };
        let from = format!("legacy state \"{}\"", legacy.state);
        let excused = |change: &Change| kept_on_purpose(change, &scenario.may_keep);
        let Some(mut finding) = upgrade(fresh, &from, upgraded, excused) else {
            continue;
        };
        // A state nothing shows exists: a warning that says what it assumes.
        let premise = legacy
            .index
            .and_then(|i| scenario.legacy.get(i))
            .and_then(|s| s.premise.as_ref());
        if let Some(premise) = premise {
            finding.severity = Severity::Warning;
            finding.message.push_str(&format!(
                " (if a database is in that state: it assumes {premise})"
            ));
        }
        findings.push(Finding {
            legacy_state: Some(legacy.state.clone()),
            ..finding
        });
    }
    findings
}

/// The judgement of one upgrade from a state (`from`, e.g. `legacy state
/// "old jobs"`): the set failed there (`legacy-apply-failed`), or ended with
/// another schema than a fresh install (`diverges-from-fresh`, a warning
/// when only the column order differs), apart from the differences the
/// state itself `excused`. The fuzzer judges its cases with it too.
pub(crate) fn upgrade(
    fresh: &Snapshot,
    from: &str,
    upgraded: Result<&Snapshot, &ApplyError>,
    excused: impl Fn(&Change) -> bool,
) -> Option<Finding> {
    let upgraded = match upgraded {
        Ok(snapshot) => snapshot,
        Err(error) => return Some(super::failed(Kind::LegacyApplyFailed, error)),
    };
    let mut diff = schema::diff(fresh, upgraded);
    diff.retain(|change| !excused(change));
    if diff.is_empty() {
        return None;
    }
    let (severity, what) = if diff.is_minor() {
        (Severity::Warning, "differs only in column order from")
    } else {
        (Severity::Error, "ends with a different schema than")
    };
    Some(Finding {
        severity,
        diff: Some(diff.render(
            "after a fresh install",
            &format!("after upgrading from {from}"),
        )),
        ..Finding::new(
            Kind::DivergesFromFresh,
            format!(
                "upgrading from {from} {what} a fresh install ({} difference{})",
                diff.changes.len(),
                if diff.changes.len() == 1 { "" } else { "s" }
            ),
        )
    })
}

/// An object only the upgraded side has, and the scenario says legacy
/// databases may keep: named itself ("index idx_old", "column
/// jobs.old_flag"), or part of a kept table (its columns, constraints,
/// triggers, indexes and owned sequences come with "table legacy_audit").
fn kept_on_purpose(change: &Change, may_keep: &[MayKeep]) -> bool {
    let Change::OnlyRight { key, object } = change else {
        return false;
    };
    may_keep.iter().any(|allowed| {
        let name = &allowed.name;
        if *key == format!("{} {name}", allowed.kind) {
            return true;
        }
        allowed.kind == ObjectKind::Table
            && (object.name.starts_with(&format!("{name}."))
                || object.attr("table") == Some(name.as_str())
                || object
                    .attr("owned_by")
                    .is_some_and(|o| o.starts_with(&format!("{name}."))))
    })
}
