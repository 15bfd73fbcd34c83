//! `expect`: the tables, columns (with type) and indexes the application
//! needs exist at the end, after a fresh install and after every upgrade.

use crate::finding::{Finding, Kind};
use crate::observe::Observation;
use crate::scenario::Expectations;
use crate::schema::Snapshot;

pub(super) fn check(observation: &Observation, expect: &Expectations) -> Vec<Finding> {
    let ends = std::iter::once((None, &observation.fresh))
        .chain(
            observation
                .legacy
                .iter()
                .map(|l| (Some(l.state.clone()), &l.outcome)),
        )
        .filter_map(|(state, outcome)| Some((state, outcome.snapshot.as_ref()?)));
    let mut findings = Vec::new();
    for (state, snapshot) in ends {
        let place = match &state {
            None => "after a fresh install".to_string(),
            Some(name) => format!("after upgrading from legacy state \"{name}\""),
        };
        for message in missing(snapshot, expect) {
            findings.push(Finding {
                legacy_state: state.clone(),
                ..Finding::new(Kind::MissingExpected, format!("{message} {place}"))
            });
        }
    }
    findings
}

fn missing(snapshot: &Snapshot, expect: &Expectations) -> Vec<String> {
    let mut missing = Vec::new();
    for table in &expect.tables {
        if !snapshot.has_table(table) {
            missing.push(format!("table {table} is missing"));
        }
    }
    for wanted in &expect.columns {
        let (table, column) = (&wanted.table, &wanted.column);
        match (snapshot.column(table, column), &wanted.type_name) {
            (None, _) => missing.push(format!("column {table}.{column} is missing")),
            (Some(found), Some(wanted)) => {
                let actual = found.attrs.get("type").map(String::as_str).unwrap_or("");
                if !same_type(actual, wanted) {
                    missing.push(format!(
                        "column {table}.{column} has type {actual}, not {wanted},"
                    ));
                }
            }
            (Some(_), None) => {}
        }
    }
    for index in &expect.indexes {
        if !snapshot.has_index(index) {
            missing.push(format!("index {index} is missing"));
        }
    }
    missing
}

/// Compares a type as written by a person with the catalog's spelling
/// (`format_type`), accepting the common short names.
fn same_type(actual: &str, wanted: &str) -> bool {
    let canonical = |t: &str| {
        let t = t.trim().to_ascii_lowercase();
        match t.as_str() {
            "int" | "int4" => "integer".to_string(),
            "int8" => "bigint".to_string(),
            "int2" => "smallint".to_string(),
            "bool" => "boolean".to_string(),
            "float8" | "double" => "double precision".to_string(),
            "float4" => "real".to_string(),
            "varchar" => "character varying".to_string(),
            "timestamptz" => "timestamp with time zone".to_string(),
            "timestamp" => "timestamp without time zone".to_string(),
            _ => t,
        }
    };
    canonical(actual) == canonical(wanted)
}
