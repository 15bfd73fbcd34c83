//! The runner a set is judged by: the format's tool's runner unless told,
//! said in the report; a tracked rerun goes through the version table;
//! re-executing bodies is an opt-in whose findings are warnings, each body
//! judged right after its own migration. Runs the binary on a local server.

mod common;

use std::path::Path;

use common::{migcheck, private_tmp, write};
use serde_json::Value;

/// `check` on `files` with `args`, as JSON: the exit code and the report.
fn check(files: &[(&str, &str)], args: &[&str]) -> (i32, Value) {
    let tmp = private_tmp();
    let dir = tmp.path().join("migrations");
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, t)| (*n, t.as_bytes())).collect();
    write(&dir, &files);
    let output = run(tmp.path(), &dir, args);
    common::assert_nothing_left_but(tmp.path(), "migrations");
    output
}

fn run(tmp: &Path, dir: &Path, args: &[&str]) -> (i32, Value) {
    let dir = dir.to_str().expect("utf-8 path");
    let mut all = vec!["check", "--migrations", dir, "--format", "json"];
    all.extend_from_slice(args);
    let output = migcheck(tmp, &all).output().expect("run migcheck");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().expect("exit code"), report)
}

fn runner(report: &Value) -> String {
    report["scenarios"][0]["runner"]
        .as_str()
        .expect("a runner")
        .to_string()
}

/// (check, kind, severity, migration) of every finding.
fn findings(report: &Value) -> Vec<(String, String, String, String)> {
    let field = |f: &Value, k: &str| f[k].as_str().unwrap_or_default().to_string();
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                field(f, "check"),
                field(f, "kind"),
                field(f, "severity"),
                field(f, "migration"),
            )
        })
        .collect()
}

const USERS: &str = "CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL);\n";

#[test]
fn a_tools_format_is_judged_by_its_tools_runner_and_says_so() {
    // golang-migrate: its runner records versions, so a plain CREATE TABLE
    // is fine: applying the set again through the version table runs
    // nothing.
    let files = [
        ("1_users.up.sql", USERS),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        (
            "2_email.up.sql",
            "ALTER TABLE users ADD COLUMN email text;\n",
        ),
        ("2_email.down.sql", "ALTER TABLE users DROP COLUMN email;\n"),
    ];
    let (code, report) = check(&files, &["--checks", "fresh,rerun,converge"]);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        runner(&report).starts_with("tracked: golang-migrate's runner"),
        "{}",
        runner(&report)
    );
    assert_eq!(findings(&report), vec![]);

    // The same files, told that the application runs every file at each
    // start: the second run fails at the CREATE TABLE.
    let (code, report) = check(
        &files,
        &["--checks", "fresh,rerun", "--runner", "rerun-all"],
    );
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(runner(&report), "rerun-all, as asked");
    assert_eq!(
        findings(&report),
        vec![(
            "rerun".into(),
            "rerun-failed".into(),
            "error".into(),
            "1_users.up.sql".into()
        )]
    );
}

#[test]
fn a_plain_directory_is_rerun_whole() {
    let (code, report) = check(&[("001_users.sql", USERS)], &["--checks", "fresh,rerun"]);
    assert_eq!(code, 1, "{report:#}");
    assert!(runner(&report).starts_with("rerun-all: a plain directory"));
}

#[test]
fn rerun_bodies_warns_of_each_body_right_after_its_own_migration() {
    // Run one after another with their effects kept, the first body would
    // drop the table the second creates, hiding that the second cannot run
    // twice; judged right after itself, the first is harmless and the
    // second is the one reported.
    let files = [
        (
            "20240101000000_drop_old.sql",
            "DROP TABLE IF EXISTS jobs;\n",
        ),
        ("20240102000000_jobs.sql", "CREATE TABLE jobs (id int);\n"),
        (
            "20240103000000_jobs_index.sql",
            "CREATE INDEX IF NOT EXISTS jobs_id ON jobs (id);\n",
        ),
    ];
    let (code, report) = check(
        &files,
        &[
            "--checks",
            "fresh,rerun,rerun-bodies",
            "--migrations-format",
            "sqlx",
        ],
    );
    assert_eq!(code, 0, "warnings only: {report:#}");
    assert_eq!(
        findings(&report),
        vec![(
            "rerun-bodies".into(),
            "rerun-failed".into(),
            "warning".into(),
            "20240102000000_jobs.sql".into()
        )]
    );
}

#[test]
fn expect_with_nothing_expected_upgrades_from_nothing() {
    let files = [
        (
            "001_users.sql",
            "CREATE TABLE IF NOT EXISTS users (id int);\n",
        ),
        (
            "002_more.sql",
            "CREATE TABLE IF NOT EXISTS more (id int);\n",
        ),
        (
            "003_last.sql",
            "CREATE TABLE IF NOT EXISTS last (id int);\n",
        ),
    ];
    let (code, report) = check(&files, &["--checks", "expect"]);
    assert_eq!(code, 0, "{report:#}");
    // The fresh install alone; with `converge` each earlier version too.
    assert_eq!(report["summary"]["cases"], 1, "{report:#}");
    let (_, report) = check(&files, &["--checks", "converge"]);
    assert_eq!(report["summary"]["cases"], 3, "{report:#}");
}

#[test]
fn a_crate_that_depends_on_sqlx_makes_numbered_files_sqlx() {
    let tmp = private_tmp();
    let krate = tmp.path().join("server");
    write(
        &krate,
        &[
            (
                "Cargo.toml",
                b"[package]\nname = \"server\"\n\n[dependencies]\nsqlx = { workspace = true }\n",
            ),
            ("migrations/20240101000000_users.sql", USERS.as_bytes()),
        ],
    );
    let (code, report) = run(
        tmp.path(),
        &krate.join("migrations"),
        &["--checks", "fresh,rerun"],
    );
    assert_eq!(code, 0, "{report:#}");
    assert!(runner(&report).starts_with("tracked: sqlx's runner"));
    common::assert_nothing_left_but(tmp.path(), "server");
}
