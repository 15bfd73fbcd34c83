//! Every report format, rendered from one fixed report and compared with
//! the files in `tests/golden/` (`expect_file!`): what a user's CI sees
//! must not change by accident. After an intended change:
//! `UPDATE_EXPECT=1 cargo test -p migcheck --test golden`, and review the
//! diff.

use std::path::{Path, PathBuf};
use std::time::Duration;

use expect_test::expect_file;
use migcheck::finding::{Check, Finding, Kind, Severity};
use migcheck::report::{NotRun, OutputFormat, Report, ScenarioResult, SetSummary};
use migcheck::sandbox::Strategy;

fn report() -> Report {
    let migrations = Some(PathBuf::from("tests/golden/m"));
    let finding = |kind, message: &str| Finding {
        scenario: "err/accounts".into(),
        postgres: "15.18".into(),
        migration: Some("001_accounts.sql".into()),
        statement: Some(2),
        line: Some(3),
        column: Some(1),
        ..Finding::new(kind, message)
    };
    let failing = ScenarioResult {
        id: "err/accounts".into(),
        title: "accounts, added twice".into(),
        set: Some(SetSummary {
            format: "sqlx".into(),
            migrations: 12,
            first: "9_accounts.sql".into(),
            last: "20240108124830_accounts_email.sql".into(),
        }),
        postgres: "15.18".into(),
        sandbox: Some(Strategy::Transaction),
        sandbox_reason: None,
        runner: Some("rerun-all, as asked".into()),
        checks: vec![
            Check::Fresh,
            Check::Rerun,
            Check::Converge,
            Check::Merge,
            Check::Lint,
        ],
        not_run: vec![NotRun {
            check: Check::Merge,
            reason: "no merge to check; give --changed-since or the scenario's merge:".into(),
        }],
        cases: 4,
        findings: vec![
            Finding {
                sqlstate: Some("42701".into()),
                ..finding(
                    Kind::RerunFailed,
                    "column \"email\" of relation \"accounts\" already exists",
                )
            },
            Finding {
                legacy_state: Some("old <accounts> & co".into()),
                diff: Some(
                    "- index idx_accounts_email on accounts(email)\n+ column accounts.legacy | int"
                        .into(),
                ),
                migration: None,
                statement: None,
                line: None,
                column: None,
                ..finding(
                    Kind::DivergesFromFresh,
                    "upgraded schema differs: 100% \x01 not fresh, at least: 2 changes",
                )
            },
            Finding {
                severity: Severity::Warning,
                ..finding(
                    Kind::NonIdempotentStatement,
                    "ADD COLUMN email fails with \"column already exists\" when it runs again",
                )
            },
            Finding {
                expected: true,
                sqlstate: Some("57014".into()),
                ..finding(
                    Kind::Timeout,
                    "canceling statement due to statement timeout (statement_timeout 1000 ms)",
                )
            },
        ],
        notes: vec!["faults: 2 injected paths".into()],
        opt_outs: Vec::new(),
        migrations: migrations.clone(),
        kept: None,
    };
    let fine = ScenarioResult {
        id: "ok/fine".into(),
        title: "fine".into(),
        findings: Vec::new(),
        cases: 3,
        ..failing.clone()
    };
    Report {
        scenarios: vec![fine, failing],
        postgres: vec!["15.18".into()],
        backend: "local /usr/lib/postgresql/15/bin".into(),
        duration: Duration::from_millis(1500),
    }
}

/// Compares the report rendered as `format` with `golden/<file>`, next to
/// this file.
fn check(format: OutputFormat, file: &str) {
    let actual = report().render(format, false, false);
    expect_file![Path::new("golden").join(file)].assert_eq(&actual);
}

#[test]
fn json() {
    check(OutputFormat::Json, "report.json");
}

#[test]
fn junit() {
    check(OutputFormat::Junit, "report.junit.xml");
}

#[test]
fn sarif() {
    check(OutputFormat::Sarif, "report.sarif");
}

#[test]
fn github() {
    check(OutputFormat::Github, "report.github.txt");
}

#[test]
fn markdown() {
    check(OutputFormat::Markdown, "report.md");
}

#[test]
fn human() {
    check(OutputFormat::Human, "report.human.txt");
}
