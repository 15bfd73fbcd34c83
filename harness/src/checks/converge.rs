//! `converge`: from every legacy state the set applies, and ends with the
//! same schema as a fresh install.

use crate::finding::{Finding, Kind, Severity};
use crate::observe::Observation;
use crate::schema::{self, Change};

pub(super) fn check(observation: &Observation, may_keep: &[String]) -> Vec<Finding> {
    let Some(fresh) = &observation.fresh.snapshot else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for legacy in &observation.legacy {
        let state = Some(legacy.state.clone());
        if let Some(error) = legacy.outcome.errors.first() {
            findings.push(Finding {
                legacy_state: state,
                ..super::failed(Kind::LegacyApplyFailed, error)
            });
            continue;
        }
        let Some(upgraded) = &legacy.outcome.snapshot else {
            continue;
        };
        let mut diff = schema::diff(fresh, upgraded);
        diff.retain(|change| !kept_on_purpose(change, may_keep));
        if diff.is_empty() {
            continue;
        }
        let side = format!("after upgrading from legacy state \"{}\"", legacy.state);
        let (severity, what) = if diff.is_minor() {
            (Severity::Warning, "differs only in column order from")
        } else {
            (Severity::Error, "ends with a different schema than")
        };
        findings.push(Finding {
            severity,
            legacy_state: state,
            diff: Some(diff.render("after a fresh install", &side)),
            ..Finding::new(
                Kind::DivergesFromFresh,
                format!(
                    "upgrading from legacy state \"{}\" {what} a fresh install ({} difference{})",
                    legacy.state,
                    diff.changes.len(),
                    if diff.changes.len() == 1 { "" } else { "s" }
                ),
            )
        });
    }
    findings
}

/// An object only the upgraded side has, and the scenario says legacy
/// databases may keep: named itself ("index idx_old", "column
/// jobs.old_flag"), or part of a kept table (its columns, constraints,
/// triggers, indexes and owned sequences come with "table legacy_audit").
fn kept_on_purpose(change: &Change, may_keep: &[String]) -> bool {
    let Change::OnlyRight { key, object } = change else {
        return false;
    };
    may_keep.iter().any(|allowed| {
        let Some((kind, name)) = allowed.trim().split_once(' ') else {
            return false;
        };
        let name = name.trim();
        let qualified = if name.contains('.') && kind != "column" || name.matches('.').count() > 1 {
            name.to_string()
        } else {
            format!("public.{name}")
        };
        if *key == format!("{kind} {qualified}") {
            return true;
        }
        kind == "table"
            && (object.name.starts_with(&format!("{qualified}."))
                || object.attr("table") == Some(qualified.as_str())
                || object
                    .attr("owned_by")
                    .is_some_and(|o| o.starts_with(&format!("{qualified}."))))
    })
}
