//! The JSON report against its published schema, `docs/report.schema.json`
//! (described in `docs/json.md`): scripts are told to rely on that file, so
//! the golden report, real runs of the binary and a report holding every
//! finding kind must all validate.
//!
//! Each report is validated twice: against the schema as published, which
//! lets objects carry fields it does not list (so that additions within
//! version 1 stay compatible), and against a strict copy that does not, so
//! that a field the renderer gains fails here until the schema and the doc
//! describe it.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boon::{Compiler, Draft, SchemaIndex, Schemas};
use common::{assert_nothing_left, migcheck, private_tmp, workspace};
use migcheck::finding::{Check, Finding, Kind, Severity};
use migcheck::report::{NotRun, OptOutNote, OutputFormat, Report, ScenarioResult, SetSummary};
use migcheck::sandbox::Strategy;
use serde_json::Value;

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

fn schema_path() -> PathBuf {
    workspace().join("docs/report.schema.json")
}

fn schema() -> Value {
    let path = schema_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The schema, compiled as published and as a strict copy.
struct Validator {
    schemas: Schemas,
    published: SchemaIndex,
    strict: SchemaIndex,
}

impl Validator {
    fn new() -> Validator {
        let schema = schema();
        assert_eq!(
            schema["$schema"], DRAFT_2020_12,
            "docs/report.schema.json must declare draft 2020-12, which this test holds it to"
        );
        let mut strict = schema.clone();
        close(&mut strict);
        let mut schemas = Schemas::new();
        let published = compile(&mut schemas, "published", schema);
        let strict = compile(&mut schemas, "strict", strict);
        Validator {
            schemas,
            published,
            strict,
        }
    }

    /// Panics with every failing instance path and why; `what` names the
    /// report.
    fn validate(&self, what: &str, report: &Value) {
        // `{e:#}`: each failing instance path, the schema keyword and why.
        if let Err(e) = self.schemas.validate(report, self.published) {
            panic!("{what} does not match docs/report.schema.json:\n{e:#}\n\nreport:\n{report:#}");
        }
        if let Err(e) = self.schemas.validate(report, self.strict) {
            panic!(
                "{what} has a field docs/report.schema.json does not describe; add it to the schema and to docs/json.md:\n{e:#}\n\nreport:\n{report:#}"
            );
        }
    }
}

/// Compiles `schema` under a name of its own. Compiling also validates it
/// against the draft 2020-12 metaschema, so an invalid schema fails here.
fn compile(schemas: &mut Schemas, name: &str, schema: Value) -> SchemaIndex {
    let url = format!("file:///migcheck-test/{name}/report.schema.json");
    let mut compiler = Compiler::new();
    compiler.set_default_draft(Draft::V2020_12);
    compiler
        .add_resource(&url, schema)
        .unwrap_or_else(|e| panic!("{url}: {e:#}"));
    compiler
        .compile(&url, schemas)
        .unwrap_or_else(|e| panic!("docs/report.schema.json ({name}) does not compile: {e:#}"))
}

/// Turns every `"additionalProperties": true` into `false`.
fn close(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("additionalProperties") == Some(&Value::Bool(true)) {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close);
        }
        Value::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}

fn parse(what: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}\n{text}"))
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    Validator::new();
    // The check above would pass vacuously if compiling did not validate
    // against the metaschema; a schema with a wrongly typed keyword proves
    // that it does.
    let mut schemas = Schemas::new();
    let mut compiler = Compiler::new();
    let url = "file:///migcheck-test/broken/schema.json";
    let broken = serde_json::json!({"$schema": DRAFT_2020_12, "type": 5});
    compiler.add_resource(url, broken).expect("add resource");
    assert!(
        compiler.compile(url, &mut schemas).is_err(),
        "boon accepted a schema that breaks the metaschema"
    );
}

#[test]
fn the_golden_report_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report.json");
    let text = std::fs::read_to_string(&path).expect("tests/golden/report.json");
    Validator::new().validate(
        "tests/golden/report.json",
        &parse("the golden report", &text),
    );
}

/// The example in docs/json.md is a real report, and must stay one.
#[test]
fn the_documented_example_validates() {
    let path = workspace().join("docs/json.md");
    let doc = std::fs::read_to_string(&path).expect("docs/json.md");
    let start = doc
        .find("```json\n")
        .expect("docs/json.md has a ```json block")
        + 8;
    let end = start
        + doc[start..]
            .find("\n```")
            .expect("the end of the ```json block");
    let example = parse("the example of docs/json.md", &doc[start..end]);
    Validator::new().validate("the example of docs/json.md", &example);
    // Its command exits 0 (every finding is expected), as the page says.
    check_invariants("the example of docs/json.md", &example, 0);
}

/// The `Kind::Name => "kebab-name"` arms of `Kind::as_str` in finding.rs.
/// There is no list of kinds in the public API; `as_str` has a match
/// without a wildcard, so the compiler keeps its arms complete.
fn kinds_in_source() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/finding.rs");
    let source = std::fs::read_to_string(&path).expect("src/finding.rs");
    let start = source
        .find("impl Kind {")
        .expect("finding.rs has `impl Kind {`");
    let body = &source[start..];
    let as_str = body
        .find("fn as_str(self)")
        .map(|i| &body[i..])
        .expect("Kind has fn as_str");
    let end = as_str.find("\n    }\n").expect("the end of Kind::as_str");
    let as_str = &as_str[..end];
    assert!(
        !as_str.contains("_ =>"),
        "Kind::as_str has a wildcard arm, so its arms no longer list every kind"
    );
    let arms: Vec<(String, String)> = as_str
        .lines()
        .filter_map(|line| {
            let (variant, text) = line.trim().split_once(" => ")?;
            let variant = variant.strip_prefix("Kind::")?;
            let text = text.trim_end_matches(',').trim_matches('"');
            Some((variant.to_string(), text.to_string()))
        })
        .collect();
    // A change of layout must not make this parser miss arms silently: the
    // arms name exactly the variants of the enum's declaration.
    let declared = source
        .split_once("pub enum Kind {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .expect("finding.rs declares `pub enum Kind {`")
        .0
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(|l| l.trim_end_matches(','));
    let declared: BTreeSet<&str> = declared.collect();
    let read: BTreeSet<&str> = arms.iter().map(|(variant, _)| variant.as_str()).collect();
    assert_eq!(
        read, declared,
        "the arms of Kind::as_str read from finding.rs"
    );
    arms
}

/// Every kind, each proven real by the public API: serde reads its name
/// back into the variant the source names.
fn all_kinds() -> Vec<Kind> {
    kinds_in_source()
        .into_iter()
        .map(|(variant, text)| {
            let kind: Kind = serde_json::from_value(Value::String(text.clone()))
                .unwrap_or_else(|e| panic!("`{text}` (Kind::{variant}) does not deserialize: {e}"));
            assert_eq!(format!("{kind:?}"), variant);
            assert_eq!(kind.as_str(), text);
            assert_eq!(
                serde_json::to_value(kind).expect("serialize"),
                text.as_str()
            );
            kind
        })
        .collect()
}

fn schema_enum(schema: &Value, name: &str) -> BTreeSet<String> {
    schema["$defs"][name]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("the schema has no $defs/{name}/enum"))
        .iter()
        .map(|v| v.as_str().expect("enum values are strings").to_string())
        .collect()
}

fn names<T: serde::Serialize>(values: &[T]) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| match serde_json::to_value(v).expect("serialize") {
            Value::String(s) => s,
            other => panic!("serialized as {other}, not a string"),
        })
        .collect()
}

/// Asserts that the schema's `$defs/<name>/enum` lists exactly `code`'s
/// values, naming the ones on either side only.
fn same(schema: &Value, name: &str, code: BTreeSet<String>) {
    let listed = schema_enum(schema, name);
    let missing: Vec<_> = code.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&code).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "$defs/{name}/enum of docs/report.schema.json: missing {missing:?}, not in the code {stale:?} (docs/json.md lists them too)"
    );
}

#[test]
fn the_schema_enums_list_every_kind_check_severity_and_sandbox() {
    let schema = schema();
    let kinds = names(&all_kinds());
    same(&schema, "kind", kinds.clone());
    let doc = std::fs::read_to_string(workspace().join("docs/json.md")).expect("docs/json.md");
    let undocumented: Vec<_> = kinds
        .iter()
        .filter(|k| !doc.contains(&format!("\n| `{k}` |")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "docs/json.md's table of kinds lacks {undocumented:?}"
    );
    same(
        &schema,
        "check",
        names(&[Check::ALL.as_slice(), Check::OPT_IN.as_slice()].concat()),
    );
    // No wildcard in these matches: a new variant stops this test from
    // compiling until it is listed here, and so checked against the schema.
    let severities = [Severity::Warning, Severity::Error];
    for s in severities {
        match s {
            Severity::Warning | Severity::Error => {}
        }
    }
    same(&schema, "severity", names(&severities));
    let strategies = [Strategy::Transaction, Strategy::Template];
    for s in strategies {
        match s {
            Strategy::Transaction | Strategy::Template => {}
        }
    }
    same(&schema, "sandbox", names(&strategies));
}

/// One finding of every kind, made as checks make them (`Finding::new`
/// sets the kind's check), and an exemption of each kind, rendered by the
/// real renderer.
#[test]
fn a_report_with_every_kind_validates() {
    let findings: Vec<Finding> = all_kinds()
        .into_iter()
        .map(|kind| Finding {
            scenario: "every-kind".into(),
            postgres: "15.18".into(),
            ..Finding::new(kind, format!("a {kind} finding"))
        })
        .collect();
    let opt_out = |kind, check| OptOutNote {
        kind,
        check,
        migration: "001_init.sql".into(),
        reason: "on purpose".into(),
        finding: (kind == "ignore").then_some(Kind::BlockingIndexBuild),
    };
    let report = Report {
        scenarios: vec![ScenarioResult {
            id: "every-kind".into(),
            title: "every kind".into(),
            set: Some(SetSummary {
                format: "golang-migrate".into(),
                migrations: 2,
                first: "9_a.up.sql".into(),
                last: "10_b.up.sql".into(),
            }),
            postgres: "15.18".into(),
            sandbox: Some(Strategy::Template),
            sandbox_reason: Some("asked for with --sandbox template".into()),
            runner: Some("tracked, as asked".into()),
            checks: Check::ALL.to_vec(),
            not_run: vec![NotRun {
                check: Check::Merge,
                reason: "no merge to check".into(),
            }],
            cases: 1,
            findings,
            notes: vec!["a note".into()],
            opt_outs: vec![
                opt_out("irreversible", Check::Rollback),
                opt_out("not-atomic", Check::Faults),
                opt_out("ignore", Check::Locks),
            ],
            migrations: None,
            kept: None,
        }],
        postgres: vec!["15.18".into()],
        backend: "none".into(),
        duration: Duration::from_millis(1),
    };
    let text = report.render(OutputFormat::Json, false, false);
    Validator::new().validate("a report with every kind", &parse("the report", &text));
}

/// Runs the binary; returns its report and exit code, after checking that
/// it left nothing behind.
fn run(args: &[&str]) -> (Value, i32) {
    let tmp = private_tmp();
    let output = migcheck(tmp.path(), args).output().expect("run migcheck");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let code = output.status.code().expect("exit code");
    assert!(
        code == 0 || code == 1,
        "migcheck {args:?} exited {code}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_nothing_left(tmp.path());
    (parse(&format!("migcheck {args:?}"), &stdout), code)
}

/// What docs/json.md promises beyond the shape, which a schema cannot say.
fn check_invariants(what: &str, report: &Value, code: i32) {
    let findings = report["findings"].as_array().expect("findings");
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    let summary = &report["summary"];
    assert_eq!(
        summary["findings"],
        findings.len(),
        "{what}: summary.findings"
    );
    let cases: u64 = scenarios.iter().filter_map(|s| s["cases"].as_u64()).sum();
    assert_eq!(summary["cases"], cases, "{what}: summary.cases");
    let ids: BTreeSet<&str> = scenarios.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(summary["scenarios"], ids.len(), "{what}: summary.scenarios");
    let fails = |f: &&Value| f["severity"] == "error" && f["expected"] == false;
    let ok = !findings.iter().any(|f| fails(&f));
    assert_eq!(report["ok"], ok, "{what}: ok");
    assert_eq!(code, if ok { 0 } else { 1 }, "{what}: exit code");
    let versions = summary["postgres"].as_array().expect("summary.postgres");
    for s in scenarios {
        let own: Vec<&Value> = findings
            .iter()
            .filter(|f| f["scenario"] == s["id"] && f["postgres"] == s["postgres"])
            .collect();
        assert_eq!(s["ok"], !own.iter().any(fails), "{what}: {} ok", s["id"]);
        let on_server = s["sandbox"].is_string();
        assert_eq!(
            on_server,
            versions.contains(&s["postgres"]),
            "{what}: {}'s postgres {} and summary.postgres {versions:?}",
            s["id"],
            s["postgres"]
        );
    }
    for f in findings {
        assert!(
            scenarios
                .iter()
                .any(|s| s["id"] == f["scenario"] && s["postgres"] == f["postgres"]),
            "{what}: a finding of no scenario: {f}"
        );
    }
}

/// Asserts that `report` has a finding for which `pick` holds, so that the
/// runs keep covering what this test claims they cover.
fn covers(report: &Value, what: &str, pick: impl Fn(&Value) -> bool) {
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(pick),
        "the runs no longer produce {what}; pick scenarios that do:\n{report:#}"
    );
}

fn covers_scenario(report: &Value, what: &str, pick: impl Fn(&Value) -> bool) {
    assert!(
        report["scenarios"]
            .as_array()
            .expect("scenarios")
            .iter()
            .any(pick),
        "the runs no longer produce {what}; pick scenarios that do:\n{report:#}"
    );
}

#[test]
fn verify_reports_of_bundled_scenarios_validate() {
    // The bundled sqlx set again, with an exemption of each kind (no
    // bundled scenario is `irreversible:`).
    let input = tempfile::Builder::new()
        .prefix("migcheck-json-schema-")
        .tempdir()
        .expect("temp dir");
    let sqlx = workspace().join("scenarios/ok/formats/sqlx");
    let scenario = format!(
        "name: sqlx migrations with both exemptions
migrations: {}
format: sqlx
irreversible:
  - migration: 20240104090000_add_order_status.up.sql
    reason: the test needs an irreversible exemption
not_atomic:
  - migration: 20240105090000_index_orders_by_customer.up.sql
    reason: CREATE INDEX CONCURRENTLY is never atomic
",
        sqlx.display()
    );
    let opt_outs = input.path().join("opt-outs.yaml");
    std::fs::write(&opt_outs, scenario).expect("write scenario");
    let (report, code) = run(&[
        "verify",
        // A CREATE INDEX CONCURRENTLY (template sandbox, with its reason),
        // legacy states (one predicted by lint), expected findings, a lint
        // finding, a not-atomic exemption.
        "scenarios/err/formats/flyway.yaml",
        // diverges-from-fresh: a diff and a legacy state.
        "scenarios/err/invoices-do-block.yaml",
        // An unexpected warning beside an expected rerun-failed.
        "scenarios/err/add-column-twice.yaml",
        // down-not-inverse: a rollback finding with a diff, no statement.
        "scenarios/err/down-enum-left.yaml",
        &opt_outs.to_string_lossy(),
        "--format",
        "json",
    ]);
    Validator::new().validate("verify", &report);
    check_invariants("verify", &report, code);
    covers(&report, "a finding with a diff", |f| f["diff"].is_string());
    covers(&report, "a finding from a legacy state", |f| {
        f["legacy_state"].is_string()
    });
    covers(&report, "an expected finding", |f| f["expected"] == true);
    covers(&report, "an unexpected warning", |f| {
        f["expected"] == false && f["severity"] == "warning"
    });
    covers(&report, "a lint finding", |f| f["check"] == "lint");
    covers(&report, "a finding with a SQLSTATE", |f| {
        f["sqlstate"].is_string()
    });
    covers(&report, "a finding without a migration", |f| {
        f["migration"].is_null()
    });
    covers_scenario(&report, "notes", |s| {
        s["notes"].as_array().is_some_and(|n| !n.is_empty())
    });
    for kind in ["irreversible", "not-atomic"] {
        covers_scenario(&report, kind, |s| {
            s["opt_outs"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o["kind"] == kind))
        });
    }
    covers_scenario(&report, "a template sandbox with its reason", |s| {
        s["sandbox"] == "template" && s["sandbox_reason"].is_string()
    });
    covers_scenario(&report, "a transaction sandbox", |s| {
        s["sandbox"] == "transaction" && s["sandbox_reason"].is_null()
    });
}

#[test]
fn lint_reports_validate() {
    for dir in [
        "scenarios/err/jobs-before-chat-id",
        "scenarios/err/add-column-twice",
        "scenarios/ok/jobs-before-chat-id",
    ] {
        let (report, code) = run(&["lint", "--migrations", dir, "--format", "json"]);
        let what = format!("lint {dir}");
        Validator::new().validate(&what, &report);
        check_invariants(&what, &report, code);
    }
}

#[test]
fn a_fuzz_report_validates() {
    let (report, code) = run(&[
        "fuzz",
        "--migrations",
        "scenarios/err/jobs-before-chat-id",
        "--cases",
        "20",
        "--seed",
        "1",
        "--format",
        "json",
    ]);
    Validator::new().validate("fuzz", &report);
    check_invariants("fuzz", &report, code);
    covers(&report, "a fuzz finding", |f| f["legacy_state"].is_string());
}
