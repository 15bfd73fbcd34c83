//! The runner against a real server: which transaction mode leaves what
//! behind after a failure, the same in a rolled-back sandbox (savepoints)
//! as at the top level (real transactions); and what a tracked runner
//! skips and re-executes.

use migcheck::migrations::{Format, MigrationSet};
use migcheck::postgres::{PgSpec, Server};
use migcheck::runner::{Runner, RunnerMode, TxMode};
use migcheck::sandbox::{Sandboxes, Strategy, Timeouts};

fn set(files: &[(&str, &str)]) -> (tempfile::TempDir, MigrationSet) {
    let dir = tempfile::Builder::new()
        .prefix("migcheck-test-")
        .tempdir()
        .expect("temp dir");
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).expect("write");
    }
    let set = MigrationSet::load(dir.path(), Format::Plain).expect("load");
    (dir, set)
}

async fn tables(client: &tokio_postgres::Client) -> String {
    let row = client
        .query_one(
            "SELECT coalesce(string_agg(relname, ' ' ORDER BY relname), '') FROM pg_class
             WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
            &[],
        )
        .await
        .expect("list tables");
    row.get(0)
}

/// Applies `files` with `runner` in a sandbox of `strategy`; returns the
/// failing migration and the tables left.
fn check(
    server: &Server,
    strategy: Strategy,
    runner: Runner,
    files: &[(&str, &str)],
    expected: &str,
) {
    let (_dir, set) = set(files);
    let actual = tests::runtime().block_on(async {
        let mut sandboxes = Sandboxes::new(server, strategy, Timeouts::default());
        let sandbox = sandboxes.open().await.expect("sandbox");
        let error = sandbox.apply(runner, &set.migrations).await.expect("apply");
        let actual = format!(
            "failed: {} | tables: {}",
            error.map_or("-".into(), |e| format!("{}:{}", e.migration, e.line)),
            tables(sandbox.client()).await
        );
        sandboxes.close(sandbox).await.expect("close");
        sandboxes.shutdown().await.expect("shutdown");
        actual
    });
    assert_eq!(actual, expected, "{runner:?} in a {strategy} sandbox");
}

const FAILS_IN_002: &[(&str, &str)] = &[
    ("001_a.sql", "CREATE TABLE a (id int);"),
    (
        "002_b.sql",
        "CREATE TABLE b (id int);\nCREATE TABLE c (id int);\nCREATE TABLE a (id int);",
    ),
    ("003_d.sql", "CREATE TABLE d (id int);"),
];

#[test]
fn transaction_modes_decide_what_a_failure_leaves() {
    let server =
        Server::start(&PgSpec::Local { bindir: None }, None).expect("a local Postgres server");
    for strategy in [Strategy::Transaction, Strategy::Template] {
        let runner = |tx| Runner {
            mode: RunnerMode::RerunAll,
            tx,
        };
        check(
            &server,
            strategy,
            runner(TxMode::PerFile),
            FAILS_IN_002,
            "failed: 002_b.sql:3 | tables: a",
        );
        check(
            &server,
            strategy,
            runner(TxMode::Set),
            FAILS_IN_002,
            "failed: 002_b.sql:3 | tables: ",
        );
        check(
            &server,
            strategy,
            runner(TxMode::PerStatement),
            FAILS_IN_002,
            "failed: 002_b.sql:3 | tables: a b c",
        );
    }
}

#[test]
fn a_tracked_runner_skips_what_ran_and_can_reexecute_each_body() {
    let server =
        Server::start(&PgSpec::Local { bindir: None }, None).expect("a local Postgres server");
    let (_dir, set) = set(&[
        ("001_a.sql", "CREATE TABLE a (id int);"),
        ("002_b.sql", "CREATE TABLE IF NOT EXISTS b (id int);"),
    ]);
    let tracked = Runner {
        mode: RunnerMode::Tracked,
        tx: TxMode::PerFile,
    };
    tests::runtime().block_on(async {
        let mut sandboxes = Sandboxes::new(&server, Strategy::Transaction, Timeouts::default());
        let sandbox = sandboxes.open().await.expect("sandbox");
        let client = sandbox.client();
        assert_eq!(
            sandbox
                .apply(tracked, &set.migrations)
                .await
                .expect("first"),
            None
        );
        // CREATE TABLE a is not idempotent; a second start must not run it.
        assert_eq!(
            sandbox
                .apply(tracked, &set.migrations)
                .await
                .expect("second"),
            None
        );
        let recorded = client
            .query_one(
                "SELECT string_agg(version, ',' ORDER BY version) FROM migcheck_migrations",
                &[],
            )
            .await
            .expect("version table");
        assert_eq!(recorded.get::<_, String>(0), "001,002");
        let unsafe_to_rerun: Vec<String> = sandbox
            .reexecute_each(tracked, &set.migrations)
            .await
            .expect("reexecute")
            .into_iter()
            .map(|e| format!("{} {}", e.migration, e.sqlstate.unwrap_or_default()))
            .collect();
        assert_eq!(unsafe_to_rerun, ["001_a.sql 42P07"]);
        sandboxes.close(sandbox).await.expect("close");
        sandboxes.shutdown().await.expect("shutdown");
    });
}

#[test]
fn a_transaction_sandbox_leaves_no_session_state_to_the_next() {
    let server =
        Server::start(&PgSpec::Local { bindir: None }, None).expect("a local Postgres server");
    tests::runtime().block_on(async {
        let mut sandboxes = Sandboxes::new(&server, Strategy::Transaction, Timeouts::default());
        let first = sandboxes.open().await.expect("sandbox");
        // What a migration may do that a rollback does not undo.
        first
            .client()
            .batch_execute(
                "SELECT pg_advisory_lock(42); PREPARE migcheck_p AS SELECT 1;
                 DECLARE migcheck_c CURSOR WITH HOLD FOR SELECT 1; LISTEN migcheck_l",
            )
            .await
            .expect("session state");
        sandboxes.close(first).await.expect("close");
        let second = sandboxes.open().await.expect("sandbox");
        let row = second
            .client()
            .query_one(
                "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
                        (SELECT count(*) FROM pg_prepared_statements WHERE name = 'migcheck_p'),
                        (SELECT count(*) FROM pg_cursors WHERE name = 'migcheck_c'),
                        (SELECT count(*) FROM pg_listening_channels())",
                &[],
            )
            .await
            .expect("read session state");
        let left: [i64; 4] = [row.get(0), row.get(1), row.get(2), row.get(3)];
        assert_eq!(left, [0, 0, 0, 0], "advisory locks, prepared statements, cursors, channels");
        sandboxes.close(second).await.expect("close");
        sandboxes.shutdown().await.expect("shutdown");
    });
}

#[test]
fn forks_share_their_prefix_and_leave_no_session_state_to_the_next() {
    let server =
        Server::start(&PgSpec::Local { bindir: None }, None).expect("a local Postgres server");
    let (_dir, set) = set(&[
        ("001_a.sql", "CREATE TABLE a (id int);"),
        ("002_b.sql", "CREATE TABLE b (id int);"),
    ]);
    let runner = Runner::default();
    for strategy in [Strategy::Transaction, Strategy::Template] {
        tests::runtime().block_on(async {
            let mut sandboxes = Sandboxes::new(&server, strategy, Timeouts::default());
            let first = sandboxes
                .fork_at(runner, &set.migrations[..2])
                .await
                .expect("fork")
                .expect("the prefix applies");
            assert_eq!(tables(first.client()).await, "a b", "{strategy}");
            // What a migration may do that a rollback does not undo.
            first
                .client()
                .batch_execute(
                    "CREATE TABLE c (id int); SELECT pg_advisory_lock(42); PREPARE migcheck_p AS SELECT 1",
                )
                .await
                .expect("session state");
            sandboxes.close(first).await.expect("close");
            let second = sandboxes
                .fork_at(runner, &set.migrations[..1])
                .await
                .expect("fork")
                .expect("the prefix applies");
            assert_eq!(tables(second.client()).await, "a", "{strategy}");
            let row = second
                .client()
                .query_one(
                    "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
                            (SELECT count(*) FROM pg_prepared_statements WHERE name = 'migcheck_p')",
                    &[],
                )
                .await
                .expect("read session state");
            let left: [i64; 2] = [row.get(0), row.get(1)];
            assert_eq!(left, [0, 0], "advisory locks, prepared statements ({strategy})");
            sandboxes.close(second).await.expect("close");
            sandboxes.shutdown().await.expect("shutdown");
        });
    }
}
