//! The `locks` check end to end on a local server: bench and locks see
//! the same lock modes and rewrites for the same statements; the scope is
//! the last migration unless told otherwise; a table only a legacy state
//! has is judged from that state; inline and scenario suppressions drop a
//! finding and are listed; a malformed directive or an unknown migration
//! is exit 2.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{assert_nothing_left, migcheck, private_tmp, write};
use migcheck::finding::Check;
use migcheck::postgres::{PgSpec, Server};
use migcheck::runner::TxMode;
use migcheck::sandbox::{SandboxChoice, Timeouts};
use migcheck::scenario::{LocksScope, Scenario};
use serde_json::Value;

const INIT: &str = "CREATE TABLE customers (id bigint PRIMARY KEY, name text);\nCREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total integer, note varchar(20));\n";

/// Statements that each work on tables that existed before them.
const CHANGE: &str = "CREATE INDEX orders_customer ON orders (customer_id);
ALTER TABLE orders ALTER COLUMN total TYPE bigint;
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;
ALTER TABLE customers ADD COLUMN email text;
ALTER TABLE orders ALTER COLUMN note TYPE text;
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
";

/// `pg_locks.mode` as `LOCK TABLE` spells it.
fn sql_mode(mode: &str) -> String {
    let words = mode.trim_end_matches("Lock");
    let mut out = String::new();
    for (i, c) in words.char_indices() {
        if i > 0 && c.is_uppercase() {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn bench_and_locks_agree_on_lock_modes_and_rewrites() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        &[
            ("001_init.sql", INIT.as_bytes()),
            ("002_change.sql", CHANGE.as_bytes()),
        ],
    );
    // Bench: each statement in a transaction of its own, on loaded tables.
    let options = migcheck::bench::Options {
        migrations: dir.path().to_path_buf(),
        format: Default::default(),
        pg: PgSpec::Local { bindir: None },
        pg_versions: Vec::new(),
        rows: vec![200],
        bench_from: Some("002".into()),
        load: false,
        seed: 1,
        thresholds: Default::default(),
        psql: None,
        superuser: false,
    };
    let bench = migcheck::pipeline::bench(&options).expect("bench runs");
    // Per statement: the strongest mode on each table, and the rewritten tables.
    let tables = ["customers", "orders"];
    let mut bench_seen: BTreeMap<usize, (BTreeMap<String, String>, Vec<String>)> = BTreeMap::new();
    for run in &bench.runs {
        let entry = bench_seen.entry(run.statement).or_default();
        for lock in &run.measurement.locks {
            if tables.contains(&lock.relation.as_str()) {
                let mode = sql_mode(&lock.mode);
                let strongest = entry.0.entry(lock.relation.clone()).or_insert(mode.clone());
                if rank(&mode) > rank(strongest) {
                    *strongest = mode;
                }
            }
        }
        for table in run.measurement.tables.iter().filter(|t| t.rewritten) {
            entry
                .1
                .push(table.table.trim_start_matches("public.").to_string());
        }
    }

    // Locks: the same statements, each committed on its own as bench runs them.
    let mut scenario = Scenario::ad_hoc(dir.path(), Default::default());
    scenario.tx = TxMode::PerStatement;
    scenario.locks = LocksScope::UnderTest;
    let prepared = migcheck::pipeline::prepare(&scenario, &[Check::Locks], SandboxChoice::Auto)
        .expect("prepare");
    let server = Server::start(&PgSpec::Local { bindir: None }, None).expect("a local server");
    let runtime = migcheck::runtime().expect("runtime");
    let observation = runtime
        .block_on(migcheck::pipeline::observe(
            &server,
            &prepared,
            Timeouts::default(),
        ))
        .expect("observe");
    let locks = observation.locks.expect("locks observed");
    assert_eq!(locks.migrations.len(), 1, "{:?}", locks.notes);
    let mut locks_seen: BTreeMap<usize, (BTreeMap<String, String>, Vec<String>)> = BTreeMap::new();
    for statement in &locks.migrations[0].statements {
        let entry = locks_seen.entry(statement.statement).or_default();
        for held in &statement.held {
            entry
                .0
                .insert(held.relation.clone(), held.mode.as_sql().to_string());
        }
        entry.1 = statement.rewritten.clone();
    }
    assert_eq!(locks_seen, bench_seen);
    // And they are what Postgres documents, so the comparison is not of
    // two empty maps.
    let orders = |n: usize| locks_seen[&n].0.get("orders").cloned().unwrap_or_default();
    assert_eq!(orders(1), "SHARE");
    assert_eq!(orders(2), "ACCESS EXCLUSIVE");
    assert_eq!(locks_seen[&2].1, vec!["orders".to_string()]);
    assert_eq!(orders(4), "SHARE UPDATE EXCLUSIVE");
    assert!(
        locks_seen[&6].1.is_empty(),
        "varchar to text rewrites nothing"
    );
    assert_eq!(
        locks_seen[&7].0.get("customers").map(String::as_str),
        Some("SHARE ROW EXCLUSIVE")
    );
}

fn rank(mode: &str) -> usize {
    [
        "ACCESS SHARE",
        "ROW SHARE",
        "ROW EXCLUSIVE",
        "SHARE UPDATE EXCLUSIVE",
        "SHARE",
        "SHARE ROW EXCLUSIVE",
        "EXCLUSIVE",
        "ACCESS EXCLUSIVE",
    ]
    .iter()
    .position(|m| *m == mode)
    .unwrap_or(0)
}

/// `migcheck check --checks locks` with `extra` arguments on a set
/// written to a temp dir; the exit code and the JSON report.
fn check(files: &[(&str, &str)], extra: &[&str]) -> (i32, Value) {
    let tmp = private_tmp();
    let dir = tmp.path().join("set");
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, s)| (*n, s.as_bytes())).collect();
    write(&dir, &files);
    let (code, stdout, stderr) = run(tmp.path(), &dir, extra);
    std::fs::remove_dir_all(&dir).expect("rm set");
    assert_nothing_left(tmp.path());
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));
    (code, report)
}

fn run(tmp: &Path, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let dir = dir.display().to_string();
    let mut args = vec![
        "check",
        "--migrations",
        &dir,
        "--checks",
        "locks",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = migcheck(tmp, &args).output().expect("run migcheck");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

/// (kind, migration, line, legacy state) of each finding.
fn findings(report: &Value) -> Vec<(String, String, u64, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or_default().to_string(),
                f["migration"].as_str().unwrap_or_default().to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["legacy_state"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

fn finding(kind: &str, migration: &str, line: u64) -> (String, String, u64, String) {
    (kind.into(), migration.into(), line, "-".into())
}

const INDEX_ON_OLD: &str =
    "SET LOCAL lock_timeout = '5s';\nCREATE INDEX orders_customer ON orders (customer_id);\n";

#[test]
fn only_the_last_migration_is_under_test_unless_told() {
    let files = [
        ("001_init.sql", INIT),
        ("002_index.sql", INDEX_ON_OLD),
        (
            "003_note.sql",
            "SET LOCAL lock_timeout = '5s';\nALTER TABLE orders ADD COLUMN IF NOT EXISTS flag boolean;\n",
        ),
    ];
    let (code, report) = check(&files, &[]);
    assert_eq!((code, findings(&report)), (0, vec![]));
    let (code, report) = check(&files, &["--locks", "all"]);
    assert_eq!(
        (code, findings(&report)),
        (1, vec![finding("blocking-index-build", "002_index.sql", 2)])
    );
}

#[test]
fn a_table_only_a_legacy_state_has_is_judged_from_that_state() {
    // A fresh install creates jobs and its index in one migration: nothing
    // to flag. A database where jobs existed already builds the index
    // under SHARE on a table that holds rows.
    let files = [(
        "001_jobs.sql",
        "SET LOCAL lock_timeout = '5s';\nCREATE TABLE IF NOT EXISTS jobs (id bigint PRIMARY KEY, chat_id bigint);\nCREATE INDEX IF NOT EXISTS jobs_chat ON jobs (chat_id);\n",
    )];
    let (code, report) = check(&files, &[]);
    assert_eq!((code, findings(&report)), (0, vec![]));
    let tmp = private_tmp();
    let legacy = tmp.path().join("old-jobs.sql");
    std::fs::write(
        &legacy,
        "CREATE TABLE jobs (id bigint PRIMARY KEY, chat_id bigint);\n",
    )
    .expect("file");
    let legacy = legacy.display().to_string();
    let (code, report) = check(&files, &["--legacy", &legacy]);
    std::fs::remove_file(&legacy).expect("file");
    assert_eq!(
        (code, findings(&report)),
        (
            1,
            vec![(
                "blocking-index-build".into(),
                "001_jobs.sql".into(),
                3,
                "old-jobs".into()
            )]
        )
    );
}

#[test]
fn suppressions_drop_findings_and_are_listed() {
    let inline = "SET LOCAL lock_timeout = '5s';\n-- migcheck: ignore blocking-index-build: orders holds 40 rows\nCREATE INDEX orders_customer ON orders (customer_id);\n";
    let (code, report) = check(&[("001_init.sql", INIT), ("002_index.sql", inline)], &[]);
    assert_eq!((code, findings(&report)), (0, vec![]));
    let opt_outs = &report["scenarios"][0]["opt_outs"];
    assert_eq!(
        opt_outs,
        &serde_json::json!([{
            "kind": "ignore",
            "check": "locks",
            "migration": "002_index.sql:2",
            "reason": "orders holds 40 rows",
            "finding": "blocking-index-build"
        }])
    );
    // A directive without a reason stops the run: a typo must not
    // silently stop suppressing.
    let tmp = private_tmp();
    let dir = tmp.path().join("set");
    let broken = "-- migcheck: ignore blocking-index-build\nCREATE INDEX orders_customer ON orders (customer_id);\n";
    write(
        &dir,
        &[
            ("001_init.sql", INIT.as_bytes()),
            ("002_index.sql", broken.as_bytes()),
        ],
    );
    let (code, _, stderr) = run(tmp.path(), &dir, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr
            .contains("002_index.sql:1: `-- migcheck: ignore blocking-index-build` needs a reason"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).expect("file");
    assert_nothing_left(tmp.path());
}

#[test]
fn a_scenario_names_its_migrations_under_test() {
    let tmp = private_tmp();
    let dir = tmp.path().join("set");
    write(
        &dir,
        &[
            ("set/001_init.sql", INIT.as_bytes()),
            ("set/002_index.sql", INDEX_ON_OLD.as_bytes()),
            ("set/003_flag.sql", b"SELECT 1;\n"),
            (
                "named.yaml",
                b"migrations: set\nlocks: [002_index.sql]\nignore:\n  - kind: blocking-index-build\n    migration: 002_index.sql\n    reason: orders is tiny\n",
            ),
            ("unknown.yaml", b"migrations: set\nlocks: [009_nope.sql]\n"),
        ],
    );
    let verify = |file: &str| {
        let path = dir.join(file).display().to_string();
        let output = migcheck(tmp.path(), &["verify", &path, "--format", "json"])
            .output()
            .expect("run");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // Other checks judge this set too (it cannot run twice): only the
    // locks findings matter here.
    let (code, stdout, stderr) = verify("named.yaml");
    assert!(code == 0 || code == 1, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("json");
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == "locks")
        .filter_map(|f| f["kind"].as_str())
        .collect();
    // Accepted by `ignore:`, so only the warning that depends on traffic
    // could remain, and 002 set its timeout.
    assert_eq!(kinds, Vec::<&str>::new());
    let listed = report["scenarios"][0]["opt_outs"].as_array().expect("file");
    assert!(
        listed
            .iter()
            .any(|o| o["finding"] == "blocking-index-build" && o["reason"] == "orders is tiny"),
        "{listed:?}"
    );
    let (code, _, stderr) = verify("unknown.yaml");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("locks: no migration named `009_nope.sql`"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).expect("file");
    assert_nothing_left(tmp.path());
}

#[test]
fn a_migration_the_generated_rows_do_not_fit_is_applied_without_them() {
    // The generated names are not 'x': 002 fails on them, is applied on
    // the emptied tables, and 003 is still observed.
    let files = [
        ("001_init.sql", INIT),
        (
            "002_only_x.sql",
            "SET LOCAL lock_timeout = '5s';\nALTER TABLE customers ADD CONSTRAINT only_x CHECK (name = 'x');\n",
        ),
        ("003_index.sql", INDEX_ON_OLD),
    ];
    let (code, report) = check(&files, &["--locks", "all"]);
    let found = findings(&report);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        found.contains(&finding("blocking-index-build", "003_index.sql", 2)),
        "{found:?}"
    );
    let notes = report["scenarios"][0]["notes"].to_string();
    assert!(
        notes.contains("002_only_x.sql:2 failed: check constraint"),
        "{notes}"
    );
    assert!(
        notes.contains("it was applied without the generated rows"),
        "{notes}"
    );
}
