//! `migcheck snapshot` and `migcheck diff` end to end: a migration
//! directory, a saved snapshot file and a live database (`--dsn`) as
//! sources; exit codes 0 (equal), 1 (different), 2 (bad input); the
//! rendered diff against a golden file; no password ever printed; nothing
//! left behind.
//!
//! Golden files live in `tests/fixtures/snapshot/` (`expect_file!`); after
//! an intended change, `UPDATE_EXPECT=1 cargo test -p migcheck --test
//! snapshot_cli` rewrites them; review the diff.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use expect_test::expect_file;
use migcheck::postgres::{PgSpec, Server};

/// A private temp directory the server's unprivileged user can traverse.
fn private_tmp() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("migcheck-snapshottest-")
        .tempdir()
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Runs migcheck in `dir` with a private TMPDIR, and checks that the
/// TMPDIR is empty afterwards (no cluster, socket or data left).
fn migcheck(dir: &Path, args: &[&str]) -> Output {
    let tmp = private_tmp();
    let output = Command::new(env!("CARGO_BIN_EXE_migcheck"))
        .args(args)
        .current_dir(dir)
        .env("TMPDIR", tmp.path())
        .env("MIGCHECK_TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run migcheck");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read tmp")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the exit code, showing both streams when it is not.
fn assert_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "\nstdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
}

const FRESH: &str = "CREATE TABLE invoices (id bigint PRIMARY KEY, tenant_id int NOT NULL,
    status text DEFAULT 'open');
CREATE INDEX idx_invoices_tenant_status ON invoices (tenant_id, status);
COMMENT ON TABLE invoices IS 'one per order';
";

const UPGRADED: &str =
    "CREATE TABLE invoices (id bigint PRIMARY KEY, status text, tenant_id int NOT NULL);
CREATE TABLE legacy_notes (id int);
";

#[test]
fn diff_of_two_migration_directories_is_grouped_by_object() {
    let dir = tempfile::tempdir().expect("dir");
    write(
        dir.path(),
        &[
            ("fresh/001_init.sql", FRESH),
            ("upgraded/001_init.sql", UPGRADED),
        ],
    );
    let output = migcheck(dir.path(), &["diff", "fresh", "upgraded"]);
    assert_code(&output, 1);
    expect_file!["fixtures/snapshot/diff.txt"].assert_eq(&text(&output.stdout));

    let output = migcheck(
        dir.path(),
        &["diff", "fresh", "upgraded", "--format", "json"],
    );
    assert_code(&output, 1);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["equal"], false);
    assert_eq!(json["version"], 1);
    let changes = json["changes"].as_array().expect("changes");
    assert!(
        changes
            .iter()
            .any(|c| c["change"] == "only-left"
                && c["key"] == "index public.idx_invoices_tenant_status"),
        "{json:#}"
    );
    assert!(
        changes.iter().any(|c| c["change"] == "column-order"),
        "{json:#}"
    );

    let output = migcheck(dir.path(), &["diff", "fresh", "fresh"]);
    assert_code(&output, 0);
    assert_eq!(text(&output.stdout), "equal: no differences\n");
}

#[test]
fn a_saved_snapshot_compares_equal_to_its_directory() {
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), &[("fresh/001_init.sql", FRESH)]);
    let output = migcheck(
        dir.path(),
        &[
            "snapshot",
            "--migrations",
            "fresh",
            "--format",
            "json",
            "--output",
            "fresh.json",
        ],
    );
    assert_code(&output, 0);
    let saved = std::fs::read_to_string(dir.path().join("fresh.json")).expect("saved");
    let json: serde_json::Value = serde_json::from_str(&saved).expect("json");
    assert_eq!(json["version"], 1);
    assert_eq!(json["fingerprint"].as_str().map(str::len), Some(64));
    assert!(
        json["objects"]["table public.invoices"].is_object(),
        "{saved}"
    );

    let output = migcheck(dir.path(), &["diff", "fresh.json", "fresh"]);
    assert_code(&output, 0);

    let output = migcheck(dir.path(), &["snapshot", "--migrations", "fresh"]);
    assert_code(&output, 0);
    expect_file!["fixtures/snapshot/snapshot.txt"].assert_eq(&text(&output.stdout));
}

#[test]
fn bad_input_exits_2_with_what_to_do() {
    let dir = tempfile::tempdir().expect("dir");
    write(
        dir.path(),
        &[
            (
                "broken/001_init.sql",
                "CREATE TABLE t (id int);\nCREATE INDEX ON t (nope);\n",
            ),
            ("not-a-snapshot.json", "{\"objects\": 3}"),
        ],
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["diff", "missing-dir", "broken"],
            "missing-dir: neither a directory, a snapshot file, nor a connection string",
        ),
        (
            &["diff", "not-a-snapshot.json", "not-a-snapshot.json"],
            "not-a-snapshot.json: not a migcheck snapshot file",
        ),
        (
            &["snapshot", "--migrations", "broken"],
            "001_init.sql line 2 fails on an empty database: column \"nope\" does not exist (SQLSTATE 42703)",
        ),
        (&["snapshot"], "--dsn"),
        (
            &["snapshot", "--migrations", "nowhere"],
            "--migrations nowhere: no such directory",
        ),
    ];
    for (args, expected) in cases {
        let output = migcheck(dir.path(), args);
        assert_code(&output, 2);
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(expected),
            "migcheck {args:?}: stderr lacks {expected:?}:\n{stderr}"
        );
    }
}

/// A live database through `--dsn`: read, compared with a directory, and
/// the password in the connection string never printed, also when the
/// connection fails.
#[test]
fn dsn_is_read_only_and_its_password_never_shown() {
    let server = Server::start(&PgSpec::Local { bindir: None }, None).expect("a local server");
    let runtime = migcheck::runtime().expect("runtime");
    runtime.block_on(async {
        let admin = server.connect("postgres").await.expect("connect");
        admin
            .batch_execute("CREATE DATABASE migcheck_dsn_app")
            .await
            .expect("create");
        let app = server.connect("migcheck_dsn_app").await.expect("connect");
        app.batch_execute(FRESH).await.expect("schema");
        // As on a replica: any write migcheck tried would fail the run.
        admin
            .batch_execute("ALTER DATABASE migcheck_dsn_app SET default_transaction_read_only = on")
            .await
            .expect("read only");
    });
    let dsn = |db: &str| {
        format!(
            "host={} port={} user=postgres password=s3cret-pw dbname={db}",
            server.dir().expect("a local server").display(),
            server.port()
        )
    };
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), &[("fresh/001_init.sql", FRESH)]);

    let output = migcheck(dir.path(), &["diff", &dsn("migcheck_dsn_app"), "fresh"]);
    assert_code(&output, 0);
    let output = migcheck(dir.path(), &["snapshot", "--dsn", &dsn("migcheck_dsn_app")]);
    assert_code(&output, 0);
    assert!(text(&output.stdout).contains("index public.idx_invoices_tenant_status"));

    let output = migcheck(dir.path(), &["snapshot", "--dsn", &dsn("no_such_database")]);
    assert_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot connect to no_such_database"),
        "{stderr}"
    );

    let url = format!(
        "postgresql://postgres:s3cret-pw@localhost:{}/migcheck_dsn_app?host={}",
        server.port(),
        server.dir().expect("a local server").display()
    );
    let output = migcheck(dir.path(), &["diff", &url, "fresh", "--format", "json"]);
    assert_code(&output, 0);
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!all.contains("s3cret"), "the password was printed:\n{all}");
    let output = migcheck(
        dir.path(),
        &["snapshot", "--dsn", "postgresql://postgres:s3cret-pw@[bad"],
    );
    assert_code(&output, 2);
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!all.contains("s3cret"), "the password was printed:\n{all}");

    // Nothing was written: the database has no object migcheck made.
    runtime.block_on(async {
        let app = server.connect("migcheck_dsn_app").await.expect("connect");
        let row = app
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
                &[],
            )
            .await
            .expect("count");
        // invoices, its key's index, idx_invoices_tenant_status.
        assert_eq!(row.get::<_, i64>(0), 3);
    });
}
