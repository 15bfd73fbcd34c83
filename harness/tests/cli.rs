//! The `migcheck` command end to end: exit codes, error messages for bad
//! input, the JSON report, and that nothing is left behind, even after
//! Ctrl-C. Every run gets a private TMPDIR, so "nothing left" is exact.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_nothing_left, interrupt, migcheck, private_tmp, sleeping_run, write};

/// Runs migcheck in a directory holding `files`, and checks its exit code
/// and that stderr contains `expected` (paths shown relative to `DIR`).
fn check(files: &[(&str, &[u8])], args: &[&str], code: i32, expected: &str) -> Output {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-clitest-input-")
        .tempdir()
        .expect("temp dir");
    write(input.path(), files);
    let dir = input.path().display().to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("DIR", &dir)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = migcheck(tmp.path(), &args).output().expect("run migcheck");
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&dir, "DIR");
    assert_eq!(
        output.status.code(),
        Some(code),
        "migcheck {args:?}\nstdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.contains(expected),
        "stderr of migcheck {args:?} should contain:\n{expected}\nbut was:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "migcheck panicked:\n{stderr}");
    assert_nothing_left(tmp.path());
    output
}

const OK_SQL: &[u8] = b"CREATE TABLE IF NOT EXISTS t (id int);\n";

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2() {
    check(
        &[],
        &["check", "--migrations", "DIR/nope"],
        2,
        "--migrations DIR/nope: no such directory",
    );
    check(
        &[("m/README.md", b"no sql here")],
        &["check", "--migrations", "DIR/m"],
        2,
        "DIR/m holds no migrations: expected SQL files such as 001_init.sql",
    );
    // Every file that cannot be used, in one run; SQL the parser rejects
    // is not among them (the server judges it).
    check(
        &[
            (
                "m/001_a.sql",
                b"CREATE TABLE a (id int);\nCREATE TABLE b (id int,, x int);\n",
            ),
            ("m/002_b.sql", b"SELECT 1;\n\0"),
            ("m/003_c.sql", b"SELECT '\xff';\n"),
        ],
        &["check", "--migrations", "DIR/m"],
        2,
        "2 migration files cannot be used:\n  \
         DIR/m/002_b.sql:2:1: does not parse as SQL: contains a NUL byte; is this a binary file?\n  \
         DIR/m/003_c.sql: not UTF-8 text",
    );
    check(
        &[("m/001_a.sql", b"CREATE TABLE a (id int);\n\xff\xfe\n")],
        &["check", "--migrations", "DIR/m"],
        2,
        "DIR/m/001_a.sql: not UTF-8 text",
    );
    check(
        &[("m/init.sql", OK_SQL)],
        &["check", "--migrations", "DIR/m"],
        2,
        "DIR/m: cannot tell the migration layout from init.sql",
    );
    check(
        &[
            ("m/001_a.sql", OK_SQL),
            ("s.yaml", b"migrations: m\nlegasy: []\n"),
        ],
        &["verify", "DIR/s.yaml"],
        2,
        "DIR/s.yaml: line 2, column 1: unknown field `legasy`, expected one of `name`, `migrations`",
    );
    check(
        &[
            ("m/001_a.sql", OK_SQL),
            ("s.yaml", b"migrations: m\nexpect:\n  tables: 3\n"),
        ],
        &["verify", "DIR/s.yaml"],
        2,
        "DIR/s.yaml: line 3, column 11: expect.tables: invalid type: integer `3`, expected a sequence",
    );
    check(
        &[
            ("m/001_a.sql", OK_SQL),
            (
                "s.yaml",
                b"migrations: m\nlegacy:\n  - name: old\n    upto: '7'\n",
            ),
        ],
        &["verify", "DIR/s.yaml"],
        2,
        "no migration with version `7` in DIR/m; versions are: 001",
    );
    check(
        &[
            ("m/001_a.sql", OK_SQL),
            ("s.yaml", b"migrations: m\nlegacy:\n  - name: old\n    sql: CREATE TABLE x (id nosuchtype);\n"),
        ],
        &["verify", "DIR/s.yaml"],
        2,
        "legacy state `old` could not be set up",
    );
    check(
        &[("m/001_a.sql", OK_SQL)],
        &["check", "--migrations", "DIR/m", "--pg", "local:DIR/nobin"],
        2,
        "DIR/nobin",
    );
    check(
        &[("m/001_a.sql", OK_SQL)],
        &["check", "--migrations", "DIR/m", "--pg", "container"],
        2,
        "container",
    );
    check(
        &[],
        &["verify", "DIR"],
        2,
        "no scenario files (*.yaml) found in DIR",
    );
    check(
        &[(
            "m/001_a.sql",
            b"-- migcheck:ignore non-idempotent-statement\nCREATE TABLE a (id int);\n",
        )],
        &["lint", "--migrations", "DIR/m"],
        2,
        "DIR/m/001_a.sql:1:",
    );
}

#[test]
fn lint_needs_no_server_and_fails_on_error_findings() {
    let output = check(
        &[],
        &[
            "lint",
            "--migrations",
            "scenarios/err/jobs-before-chat-id",
            "--format",
            "json",
        ],
        1,
        "",
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["summary"]["postgres"], serde_json::json!([]));
    assert_eq!(report["findings"][0]["kind"], "index-before-column");
    assert_eq!(report["findings"][0]["line"], 12);
    check(
        &[],
        &["lint", "--migrations", "scenarios/ok/jobs-before-chat-id"],
        0,
        "",
    );
}

/// A set whose string and numeric orders differ applies in its runner's
/// order, and the report names the format and that order: sqlx and
/// golang-migrate put 9 before 10; diesel compares versions as strings,
/// so there 10 runs first and fails, as it does under diesel itself.
#[test]
fn a_set_applies_in_its_runners_order_and_the_report_says_which() {
    let first = b"CREATE TABLE a (id int);\n" as &[u8];
    let second = b"ALTER TABLE a ADD COLUMN b int;\n" as &[u8];
    for (files, format, code, order) in [
        (
            [("9_a.up.sql", first), ("10_b.up.sql", second)],
            "golang-migrate",
            0,
            ["9_a.up.sql", "10_b.up.sql"],
        ),
        (
            [("9_a.sql", first), ("10_b.sql", second)],
            "sqlx",
            0,
            ["9_a.sql", "10_b.sql"],
        ),
        (
            [("9_a/up.sql", first), ("10_b/up.sql", second)],
            "diesel",
            1,
            ["10_b/up.sql", "9_a/up.sql"],
        ),
    ] {
        let output = check(
            &files,
            &[
                "check",
                "--migrations",
                "DIR",
                "--migrations-format",
                format,
                "--runner",
                "tracked",
                "--checks",
                "fresh",
                "--format",
                "json",
            ],
            code,
            "",
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_eq!(
            report["scenarios"][0]["set"],
            serde_json::json!({"format": format, "migrations": 2, "first": order[0], "last": order[1]}),
            "{report:#}"
        );
        if code == 1 {
            assert_eq!(report["findings"][0]["kind"], "apply-failed", "{report:#}");
            assert_eq!(
                report["findings"][0]["migration"], "10_b/up.sql",
                "{report:#}"
            );
        }
    }
}

#[test]
fn lint_takes_the_runner() {
    // The jobs set creates jobs with CREATE TABLE IF NOT EXISTS. Run again
    // at every start, jobs may be an older version of itself: an error.
    let lint = |runner: &[&str], code| {
        let mut args = vec![
            "lint",
            "--migrations",
            "scenarios/err/jobs-before-chat-id",
            "--format",
            "json",
        ];
        args.extend(runner);
        let output = check(&[], &args, code, "");
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON")
    };
    for runner in [&[][..], &["--runner", "rerun-all"]] {
        let report = lint(runner, 1);
        assert_eq!(report["findings"][0]["kind"], "index-before-column");
    }
    // Tracked, each migration runs once: jobs exists before only if
    // something outside the set made it, and nothing says so. The report
    // says what lint took for granted.
    let report = lint(&["--runner", "tracked"], 0);
    assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
    let notes = report["scenarios"][0]["notes"].to_string();
    assert!(
        notes.contains("CREATE TABLE IF NOT EXISTS was taken to create jobs"),
        "{report:#}"
    );
}

/// Rebuilding a state lint predicts runs a migration again; when that
/// fails for a reason of its own (here a rename the migration did the
/// first time), it neither confirms the finding nor is an error.
#[test]
fn a_predicted_state_that_fails_for_another_reason_is_not_reproduced() {
    let set: &[(&str, &[u8])] = &[
        (
            "m/001_queue.sql",
            b"CREATE TABLE queue (id bigint PRIMARY KEY);\n",
        ),
        (
            "m/002_jobs.sql",
            b"ALTER TABLE queue RENAME TO jobs_queue;\n\
CREATE TABLE IF NOT EXISTS jobs (id bigint PRIMARY KEY, chat_id bigint);\n\
CREATE INDEX IF NOT EXISTS jobs_chat ON jobs (chat_id);\n",
        ),
        ("old.sql", b"CREATE TABLE jobs (id bigint PRIMARY KEY);\n"),
    ];
    let output = check(
        set,
        &[
            "check",
            "--migrations",
            "DIR/m",
            "--runner",
            "tracked",
            "--legacy",
            "DIR/old.sql",
            "--checks",
            "fresh,lint,converge",
            "--pg",
            "local",
            "--format",
            "json",
        ],
        1,
        "",
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let findings = report["findings"].as_array().expect("findings");
    let found: Vec<String> = findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| format!("{} {} [{}]", f["kind"], f["severity"], f["legacy_state"]))
        .collect();
    // The written state (an old jobs, without chat_id) fails: real. The
    // state lint predicts fails at the rename, run a second time: not.
    assert_eq!(
        found,
        [
            r#""legacy-apply-failed" "error" ["old"]"#,
            r#""index-before-column" "error" [null]"#,
        ],
        "{report:#}"
    );
    let lint = findings
        .iter()
        .find(|f| f["kind"] == "index-before-column")
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default();
    assert!(
        lint.contains("not reproduced: from a database where jobs lacks chat_id, 002_jobs.sql:1 fails first for another reason: relation \"queue\" does not exist (SQLSTATE 42P01)"),
        "{lint}"
    );
}

/// The findings of a JSON report as `kind check migration:line sqlstate`.
fn findings(report: &serde_json::Value) -> Vec<String> {
    let findings = report["findings"].as_array().expect("findings");
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}:{} {}",
                f["kind"].as_str().unwrap_or_default(),
                f["check"].as_str().unwrap_or_default(),
                f["migration"].as_str().unwrap_or_default(),
                f["line"],
                f["sqlstate"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// The notes of a JSON report's only scenario.
fn notes(report: &serde_json::Value) -> Vec<String> {
    let notes = report["scenarios"][0]["notes"].as_array().expect("notes");
    notes
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

const NOT_ANALYSED: &str =
    "not analysed by lint or the guard: the bundled parser (Postgres 17's grammar) rejects it";

#[test]
fn the_server_judges_what_the_parser_rejects() {
    // crates.io's down.sql as it is upstream, its first semicolon missing:
    // a finding on that file, at the line the server points to; the run
    // goes on.
    let set = "harness/tests/fixtures/syntax/missing-semicolon";
    let output = check(
        &[],
        &[
            "check",
            "--migrations",
            set,
            "--checks",
            "rollback",
            "--format",
            "json",
        ],
        1,
        "",
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let down_failed: Vec<String> = findings(&report)
        .into_iter()
        .filter(|f| f.starts_with("down-failed"))
        .collect();
    assert_eq!(
        down_failed,
        ["down-failed rollback 20170318181441_downloads_need_no_id/down.sql:2 42601"],
        "{report:#}"
    );
    let down = format!("{set}/20170318181441_downloads_need_no_id/down.sql:1:1: {NOT_ANALYSED}");
    assert!(
        notes(&report).iter().any(|n| n.starts_with(&down)),
        "a note should say the down was not analysed: {report:#}"
    );
    // Lint reads only ups: the down is no concern of its, nor an error.
    check(&[], &["lint", "--migrations", set], 0, "");
}

/// Postgres 18's `ADD CONSTRAINT c NOT NULL col`, which the bundled
/// parser rejects: the set loads, lint and the guard say they skipped it,
/// Postgres 15 rejects it as an `apply-failed` finding on its file (exit
/// 1), and every major from 18 in `MIGCHECK_TEST_MAJORS` (default
/// 13,15,18, as for `backends.rs`; others from `cargo xtask pg install`)
/// applies it.
#[test]
fn syntax_newer_than_the_parser_runs_on_the_servers_that_know_it() {
    let set = "harness/tests/fixtures/syntax/pg18-not-null";
    let statement = format!("{set}/2024-01-02-000000_nn/up.sql:2:1: {NOT_ANALYSED}");
    let output = check(
        &[],
        &[
            "check",
            "--migrations",
            set,
            "--checks",
            "fresh",
            "--format",
            "json",
        ],
        1,
        "",
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        findings(&report),
        ["apply-failed fresh 2024-01-02-000000_nn/up.sql:2 42601"],
        "{report:#}"
    );
    assert_eq!(report["findings"][0]["column"], 46, "at NOT: {report:#}");
    assert!(
        notes(&report).iter().any(|n| n.starts_with(&statement)),
        "a note should say the statement was not analysed: {report:#}"
    );
    // Lint, without a server, says the same and finds nothing else wrong.
    let output = check(
        &[],
        &["lint", "--migrations", set, "--format", "json"],
        0,
        "",
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(
        notes(&report).iter().any(|n| n.starts_with(&statement)),
        "lint should say it skipped the statement: {report:#}"
    );
    let majors = std::env::var("MIGCHECK_TEST_MAJORS").unwrap_or_else(|_| "13,15,18".into());
    for major in majors.split(',').map(str::trim).filter(|m| *m != "15") {
        let newer = major.parse::<u32>().is_ok_and(|m| m >= 18);
        let args = [
            "check",
            "--migrations",
            set,
            "--checks",
            "fresh",
            "--pg-version",
            major,
            "--format",
            "json",
        ];
        let output = check(&[], &args, if newer { 0 } else { 1 }, "");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let version = report["summary"]["postgres"][0]
            .as_str()
            .unwrap_or_default();
        assert!(
            version.starts_with(&format!("{major}.")),
            "postgres {major} should have run (install it with `cargo xtask pg install {major}`): {report:#}"
        );
        let expected: &[&str] = match newer {
            true => &[],
            false => &["apply-failed fresh 2024-01-02-000000_nn/up.sql:2 42601"],
        };
        assert_eq!(findings(&report), expected, "on {major}: {report:#}");
    }
}

#[test]
fn unexpected_findings_exit_1_with_a_json_report() {
    let legacy = b"CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n\
CREATE TABLE jobs (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), payload jsonb NOT NULL DEFAULT '{}');\n";
    let output = check(
        &[("old_jobs.sql", legacy)],
        &[
            "check",
            "--migrations",
            "scenarios/err/jobs-before-chat-id",
            "--legacy",
            "DIR/old_jobs.sql",
            "--format",
            "json",
        ],
        1,
        "",
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the report is JSON");
    assert_eq!(report["version"], 1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["summary"]["scenarios"], 1);
    // The legacy state given, the state lint predicts, and lint's finding
    // (besides what the locks check sees of 002 on the old jobs table).
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] != "locks")
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "legacy-apply-failed",
            "legacy-apply-failed",
            "index-before-column"
        ],
        "{report:#}"
    );
    assert_eq!(
        report["summary"]["findings"],
        report["findings"].as_array().map_or(0, Vec::len)
    );
    let finding = &report["findings"][0];
    for (field, value) in [
        ("kind", "legacy-apply-failed"),
        ("severity", "error"),
        ("check", "converge"),
        ("legacy_state", "old_jobs"),
        ("migration", "002_jobs.sql"),
        ("sqlstate", "42703"),
        ("message", "column \"chat_id\" does not exist"),
    ] {
        assert_eq!(finding[field], value, "field {field} of {finding:#}");
    }
    assert_eq!(finding["line"], 12);
    assert_eq!(finding["statement"], 3);
}

#[test]
fn the_bundled_corpus_passes_and_leaves_nothing() {
    let tmp = private_tmp();
    let output = migcheck(tmp.path(), &["verify", "scenarios", "--quiet"])
        .output()
        .expect("run migcheck");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("0 failing"), "{stdout}");
    assert_nothing_left(tmp.path());
}

#[test]
fn ctrl_c_stops_the_server_and_deletes_its_files() {
    let tmp = private_tmp();
    let (mut child, _input) = sleeping_run(tmp.path(), 60, None);
    // Wait until a backend runs the migration: the cluster is up and busy.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sleeping_backend(tmp.path(), child.id()) {
        assert!(Instant::now() < deadline, "the migration never started");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "migcheck exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = interrupt(&mut child);
    assert_eq!(status.code(), Some(130), "exit status after Ctrl-C");
    assert_nothing_left(tmp.path());
}

/// Whether the cluster under `tmp` is up and a backend of migcheck `pid`
/// runs the migration: its process title names the sandbox database
/// (`migcheck_tx_<pid>_<n>`) and shows the statement, "SELECT".
fn sleeping_backend(tmp: &Path, pid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return false;
    };
    let cluster_up = entries
        .flatten()
        .any(|e| e.path().join("data/postmaster.pid").exists());
    cluster_up
        && std::fs::read_dir("/proc").is_ok_and(|procs| {
            procs.flatten().any(|p| {
                std::fs::read(p.path().join("cmdline")).is_ok_and(|c| {
                    let title = String::from_utf8_lossy(&c);
                    title.contains(&format!("_{pid}_")) && title.contains("SELECT")
                })
            })
        })
}

#[test]
fn changed_since_checks_a_branch_against_what_main_merged_meanwhile() {
    let repo = tempfile::Builder::new()
        .prefix("migcheck-clitest-git-")
        .tempdir()
        .expect("temp dir");
    let dir = repo.path();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    let commit = |file: &str, sql: &[u8], message: &str| {
        write(dir, &[(file, sql)]);
        git(&["add", "."]);
        git(&["commit", "-qm", message]);
    };
    git(&["init", "-q"]);
    commit(
        "m/001_users.sql",
        b"CREATE TABLE IF NOT EXISTS users (id bigserial PRIMARY KEY);\n",
        "base",
    );
    git(&["checkout", "-qb", "feature"]);
    commit(
        "m/003_status.sql",
        b"ALTER TABLE users ADD COLUMN IF NOT EXISTS status text DEFAULT 'new';\n",
        "branch adds status",
    );
    git(&["checkout", "-q", "main"]);
    commit(
        "m/002_status.sql",
        b"ALTER TABLE users ADD COLUMN IF NOT EXISTS status text DEFAULT 'active';\n",
        "main adds status",
    );
    git(&["checkout", "-q", "feature"]);
    // The branch takes main's migration into its work tree, as a merge does.
    git(&["checkout", "main", "--", "m/002_status.sql"]);

    let tmp = private_tmp();
    let migrations = dir.join("m").display().to_string();
    let output = migcheck(
        tmp.path(),
        &[
            "check",
            "--migrations",
            &migrations,
            "--changed-since",
            "main",
            "--format",
            "json",
        ],
    )
    .output()
    .expect("run migcheck");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    // The locks check observes what the branch adds or changes since the
    // merge base: both status migrations, neither with a lock_timeout.
    assert_eq!(
        kinds,
        [
            "merge-order-dependent",
            "missing-lock-timeout",
            "missing-lock-timeout"
        ],
        "{report:#}"
    );
    assert_eq!(output.status.code(), Some(1));
    assert_nothing_left(tmp.path());

    check(
        &[("m/001_a.sql", OK_SQL)],
        &["check", "--migrations", "DIR/m", "--changed-since", "nope"],
        2,
        "--changed-since: `git diff",
    );
}

/// Every command says what it does in `--help`, and only what it does.
#[test]
fn every_command_is_described_in_help() {
    let tmp = private_tmp();
    let help = migcheck(tmp.path(), &["--help"])
        .output()
        .expect("run migcheck");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let commands: Vec<(&str, &str)> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(char::is_whitespace))
        .map(|(name, about)| (name, about.trim()))
        .collect();
    let names: Vec<&str> = commands.iter().map(|(name, _)| *name).collect();
    for expected in ["verify", "check", "fuzz", "bench"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from:\n{help}"
        );
    }
    for (name, about) in commands.iter().filter(|(name, _)| *name != "help") {
        assert!(!about.is_empty(), "`{name}` has no description:\n{help}");
        let own = migcheck(tmp.path(), &[name, "--help"])
            .output()
            .expect("run migcheck");
        let own = String::from_utf8_lossy(&own.stdout).into_owned();
        let first = own.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(about.trim_end_matches('.')),
            "`{name} --help` begins with {first:?}, not with its summary {about:?}"
        );
    }
    let about = |name: &str| {
        commands
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, about)| about)
    };
    assert!(about("bench").starts_with("Measure"), "{help}");
    assert!(about("fuzz").starts_with("Generate"), "{help}");
    assert_nothing_left(tmp.path());
}

/// Under `tracked`, faults leaves alone a migration Postgres makes atomic
/// (001 runs in one transaction) and still interrupts one that commits
/// inside (002); under `rerun-all` it interrupts both.
#[test]
fn faults_under_tracked_interrupt_only_migrations_that_are_not_atomic() {
    let files: &[(&str, &[u8])] = &[
        (
            "m/001_users.sql",
            b"CREATE TABLE IF NOT EXISTS users (id int);\nCREATE INDEX IF NOT EXISTS users_id ON users (id);\n",
        ),
        (
            "m/002_emails.sql",
            b"BEGIN;\nALTER TABLE users ADD COLUMN IF NOT EXISTS email text;\nCOMMIT;\nALTER TABLE users ADD COLUMN IF NOT EXISTS name text;\n",
        ),
    ];
    let note = |runner: &str| -> String {
        let output = check(
            files,
            &[
                "check",
                "--migrations",
                "DIR/m",
                "--checks",
                "fresh,faults",
                "--runner",
                runner,
                "--format",
                "json",
            ],
            0,
            "",
        );
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("the report is JSON");
        report["scenarios"][0]["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .filter_map(|n| n.as_str())
            .find(|n| n.starts_with("faults:"))
            .expect("a faults note")
            .to_string()
    };
    let tracked = note("tracked");
    assert!(
        tracked.starts_with("faults: 4 injected paths")
            && tracked.contains("; 1 migration left alone"),
        "{tracked}"
    );
    let rerun_all = note("rerun-all");
    assert!(
        rerun_all.starts_with("faults: 6 injected paths") && !rerun_all.contains("left alone"),
        "{rerun_all}"
    );
}
