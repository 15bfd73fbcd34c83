//! SARIF 2.1.0, for code scanning: one rule per finding kind, one result
//! per finding, located at the migration file, line and column, so that
//! GitHub (or any SARIF viewer) annotates the migration itself.

use serde_json::{Value, json};

use super::{Report, finding_path};
use crate::finding::{Finding, Kind, Severity};

pub(super) fn render(report: &Report) -> String {
    let mut kinds: Vec<Kind> = report.findings().map(|f| f.kind).collect();
    kinds.sort();
    kinds.dedup();
    let rules: Vec<Value> = kinds
        .iter()
        .map(|kind| {
            json!({
                "id": kind.as_str(),
                "name": kind.as_str(),
                "shortDescription": {"text": describe(*kind)},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .scenarios
        .iter()
        .flat_map(|s| s.findings.iter().map(move |f| (s, f)))
        .map(|(s, f)| {
            let rule = kinds.iter().position(|k| *k == f.kind).unwrap_or(0);
            let mut result = json!({
                "ruleId": f.kind.as_str(),
                "ruleIndex": rule,
                "level": level(f),
                "message": {"text": message(f)},
                "properties": {
                    "scenario": f.scenario,
                    "check": f.check,
                    "postgres": f.postgres,
                    "legacy_state": f.legacy_state,
                    "migration": f.migration,
                    "statement": f.statement,
                    "sqlstate": f.sqlstate,
                    "expected": f.expected,
                },
            });
            if let Some(uri) = finding_path(s, f) {
                let mut region = serde_json::Map::new();
                if let Some(line) = f.line {
                    region.insert("startLine".into(), json!(line.max(1)));
                    if let Some(column) = f.column {
                        region.insert("startColumn".into(), json!(column.max(1)));
                    }
                }
                let mut physical = json!({"artifactLocation": {"uri": uri}});
                if !region.is_empty() {
                    physical["region"] = Value::Object(region);
                }
                result["locations"] = json!([{"physicalLocation": physical}]);
            }
            result
        })
        .collect();
    let value = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "migcheck",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    super::json_text(&value)
}

/// Expected findings are notes: they are known and do not fail the run.
fn level(f: &Finding) -> &'static str {
    match (f.expected, f.severity) {
        (true, _) => "note",
        (false, Severity::Error) => "error",
        (false, Severity::Warning) => "warning",
    }
}

fn message(f: &Finding) -> String {
    let mut text = f.message.clone();
    if let Some(state) = &f.legacy_state {
        text.push_str(&format!(" (from legacy state \"{state}\")"));
    }
    if !f.postgres.is_empty() {
        text.push_str(&format!(
            " [scenario {}, postgres {}]",
            f.scenario, f.postgres
        ));
    }
    if let Some(diff) = &f.diff {
        text.push('\n');
        text.push_str(diff);
    }
    super::printable(&text)
}

/// A rule's one-line description, from `product.md`'s table.
fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::ApplyFailed => "A migration fails on a fresh, empty database",
        Kind::RerunFailed => "Applying the set a second time errors",
        Kind::RerunChanged => "The second run succeeds but changes schema or data",
        Kind::LegacyApplyFailed => "The set fails when started from a legacy state",
        Kind::DivergesFromFresh => {
            "An upgraded database ends with a different schema than a fresh install"
        }
        Kind::MissingExpected => "The application needs an object that no migration creates",
        Kind::IndexBeforeColumn => {
            "An index, constraint or view refers to a column that may not exist at that point"
        }
        Kind::NonIdempotentStatement => "A statement errors when executed twice",
        Kind::TxIncompatible => {
            "A statement that cannot run in a transaction block is in a transactional migration"
        }
        Kind::MergeOrderDependent => "Migrations merged from two branches depend on their order",
        Kind::DownFailed => "A down migration errors",
        Kind::DownNotInverse => "Up then down does not restore the schema from before up",
        Kind::ReupFailed => "A migration cannot be applied again after its rollback",
        Kind::DataLost => "Rows are gone or changed after up, or after up then down",
        Kind::PartialApply => "An interrupted migration leaves part of itself committed",
        Kind::InvalidLeftover => "An INVALID index or NOT VALID constraint remains at the end",
        Kind::ExpectedNotFound => "A finding the scenario pins did not happen",
        Kind::Timeout => "A statement exceeded the statement or lock timeout",
        Kind::TableRewrite => "A statement rewrites a table that holds data",
        Kind::LongExclusiveLock => {
            "ACCESS EXCLUSIVE is held too long: over the budget, or while later statements work on rows"
        }
        Kind::BlockingIndexBuild => {
            "CREATE INDEX without CONCURRENTLY blocks writes to an existing table"
        }
        Kind::BlockingConstraintIndex => {
            "A new UNIQUE, PRIMARY KEY or EXCLUDE constraint builds its index under the table lock"
        }
        Kind::BlockingValidation => {
            "A constraint or NOT NULL is validated under a lock that blocks writes"
        }
        Kind::MissingLockTimeout => {
            "A lock that blocks reads or writes is taken without the migration's own lock_timeout"
        }
        Kind::UnindexedForeignKey => "A foreign key has no index on its referencing columns",
        Kind::EditedAfterRelease => {
            "A migration was edited after a version of the set was deployed"
        }
    }
}
