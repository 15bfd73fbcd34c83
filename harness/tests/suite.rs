//! `migcheck::suite` as a user's `tests/migrations.rs` calls it: a scenario
//! directory becomes trials, a pinned bug passes, an unpinned one fails
//! its trial, and the server is gone afterwards.

mod common;

use libtest_mimic::Arguments;
use migcheck::finding::Check;
use migcheck::postgres::PgSpec;
use migcheck::suite::Suite;

use common::{assert_nothing_left, private_tmp, write};

const TWICE: &[u8] =
    b"CREATE TABLE IF NOT EXISTS accounts (id int);\nALTER TABLE accounts ADD COLUMN email text;\n";

#[test]
fn a_scenario_directory_runs_as_trials() {
    let tmp = private_tmp();
    let dir = tempfile::Builder::new()
        .prefix("migcheck-suite-")
        .tempdir()
        .expect("temp dir");
    write(
        dir.path(),
        &[
            ("fine.yaml", b"migrations: fine\n"),
            ("fine/001_a.sql", b"CREATE TABLE IF NOT EXISTS t (id int);\n"),
            (
                "known/bug.yaml",
                b"migrations: m\nexpect_findings:\n  - kind: rerun-failed\n    migration: 001_a.sql\n    line: 2\n",
            ),
            ("known/m/001_a.sql", TWICE),
            ("new-bug.yaml", b"migrations: m\n"),
            ("m/001_a.sql", TWICE),
        ],
    );
    // SAFETY: the only test of this binary, before it starts any thread.
    // Local clusters go to MIGCHECK_TMPDIR, so the leak check is exact.
    unsafe { std::env::set_var("MIGCHECK_TMPDIR", tmp.path()) };
    // The inner run's own report (one trial fails on purpose) goes to a
    // file, not into this test's output.
    let log = dir.path().join("trials.log");
    let args = Arguments {
        test_threads: Some(1),
        quiet: true,
        logfile: Some(log.display().to_string()),
        ..Arguments::default()
    };
    let conclusion = Suite::new(dir.path())
        .pg(PgSpec::Local { bindir: None })
        .checks(&[Check::Fresh, Check::Rerun])
        .run_with(&args)
        .expect("the scenarios are readable");
    // 3 scenarios × 2 checks; only new-bug's rerun fails.
    assert_eq!(conclusion.num_passed, 5, "{conclusion:?}");
    assert_eq!(conclusion.num_failed, 1, "{conclusion:?}");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log.contains("new-bug::rerun"),
        "the failing trial is named:\n{log}"
    );
    assert_nothing_left(tmp.path());
}
