//! The runner against a real server: which transaction mode leaves what
//! behind after a failure, the same in a rolled-back sandbox (savepoints)
//! as at the top level (real transactions); what a tracked runner skips
//! and re-executes; and that it keeps each format's own version table, in
//! its tool's shape, which a set may read and alter.

use migcheck::migrations::{Format, MigrationSet};
use migcheck::postgres::{PgSpec, Server};
use migcheck::runner::{Runner, RunnerMode, TxMode};
use migcheck::sandbox::{Sandboxes, Strategy, Timeouts};
use migcheck::version_table::VersionTable;

fn set(files: &[(&str, &str)]) -> (tempfile::TempDir, MigrationSet) {
    set_of(Format::Plain, files)
}

fn set_of(format: Format, files: &[(&str, &str)]) -> (tempfile::TempDir, MigrationSet) {
    let dir = tempfile::Builder::new()
        .prefix("migcheck-test-")
        .tempdir()
        .expect("temp dir");
    for (name, sql) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, sql).expect("write");
    }
    let set = MigrationSet::load(dir.path(), format).expect("load");
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
            ..Runner::default()
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
        table: VersionTable::of(set.format),
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
            .reexecute_each(tracked, &set.migrations, false)
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

/// Applies `files`, read as `format`, twice with a tracked runner (the
/// second start must run nothing) and returns the version table's columns
/// and rows, and `extra`'s answer.
fn tracked_twice(server: &Server, format: Format, files: &[(&str, &str)], extra: &str) -> String {
    let (_dir, set) = set_of(format, files);
    let runner = Runner {
        mode: RunnerMode::Tracked,
        table: VersionTable::of(set.format),
        ..Runner::default()
    };
    let table = runner.table.name();
    tests::runtime().block_on(async {
        let mut sandboxes = Sandboxes::new(server, Strategy::Template, Timeouts::default());
        let sandbox = sandboxes.open().await.expect("sandbox");
        let client = sandbox.client();
        for start in ["first", "second"] {
            let failed = sandbox.apply(runner, &set.migrations).await.expect(start);
            assert_eq!(failed, None, "{format}: the {start} start");
        }
        let shape: String = client
            .query_one(
                "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod)
                                   || CASE WHEN attnotnull THEN ' not null' ELSE '' END,
                                   ', ' ORDER BY attnum)
                 FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0
                   AND NOT attisdropped",
                &[&table],
            )
            .await
            .expect("the table's columns")
            .get(0);
        // The columns that do not change from run to run.
        let columns = match set.format {
            Format::Sqlx => "version, description, success, execution_time",
            Format::Flyway => "installed_rank, version, description, type, script, success",
            Format::Refinery => "version, name",
            Format::GolangMigrate => "version, dirty",
            _ => "version",
        };
        let rows: String = client
            .query_one(
                &format!(
                    "SELECT string_agg(concat_ws(' ', {columns}), '; ' ORDER BY version) FROM {table}"
                ),
                &[],
            )
            .await
            .expect("the table's rows")
            .get(0);
        let extra: String = client
            .query_one(extra, &[])
            .await
            .expect("extra")
            .get(0);
        sandboxes.close(sandbox).await.expect("close");
        sandboxes.shutdown().await.expect("shutdown");
        format!("{table} ({shape})\n{rows}\n{extra}\n")
    })
}

#[test]
fn a_tracked_runner_keeps_its_formats_own_version_table() {
    let server =
        Server::start(&PgSpec::Local { bindir: None }, None).expect("a local Postgres server");
    let check = |format, files: &[(&str, &str)], extra: &str, expected: expect_test::Expect| {
        expected.assert_eq(&tracked_twice(&server, format, files, extra));
    };
    // golang-migrate keeps one row; a set may alter and read the table,
    // as harbor's 0030 adds `data_version` to it.
    check(
        Format::GolangMigrate,
        &[
            (
                "1_a.up.sql",
                "CREATE TABLE a (version bigint, dirty boolean);",
            ),
            (
                "2_b.up.sql",
                "ALTER TABLE schema_migrations ADD COLUMN data_version int;\n\
                 UPDATE schema_migrations SET data_version = 7;\n\
                 INSERT INTO a SELECT version, dirty FROM schema_migrations;",
            ),
        ],
        "SELECT string_agg(concat_ws(' ', version, dirty), '; ') FROM a",
        expect_test::expect![[r#"
            schema_migrations (version bigint not null, dirty boolean not null, data_version integer)
            2 f
            1 f
        "#]],
    );
    check(
        Format::Diesel,
        &[
            ("2017-01-01-000000_a/up.sql", "SELECT 1;"),
            ("20170102000000_b/up.sql", "SELECT 1;"),
        ],
        "SELECT count(*)::text FROM __diesel_schema_migrations WHERE run_on IS NOT NULL",
        expect_test::expect![[r#"
            __diesel_schema_migrations (version character varying(50) not null, run_on timestamp without time zone not null)
            20170101000000; 20170102000000
            2
        "#]],
    );
    check(
        Format::Sqlx,
        &[
            ("9_create_a.sql", "CREATE TABLE a (id int);"),
            ("10_add_b.up.sql", "ALTER TABLE a ADD COLUMN b int;"),
        ],
        "SELECT string_agg(length(checksum)::text, ',') FROM _sqlx_migrations",
        expect_test::expect![[r#"
            _sqlx_migrations (version bigint not null, description text not null, installed_on timestamp with time zone not null, success boolean not null, checksum bytea not null, execution_time bigint not null)
            9 create a t -1; 10 add b t -1
            48,48
        "#]],
    );
    check(
        Format::Dbmate,
        &[
            ("001_a.sql", "-- migrate:up\nCREATE TABLE a (id int);"),
            ("002_b.sql", "-- migrate:up\nCREATE TABLE b (id int);"),
        ],
        "SELECT 'ok'",
        expect_test::expect![[r#"
            schema_migrations (version character varying not null)
            001; 002
            ok
        "#]],
    );
    check(
        Format::Flyway,
        &[
            ("V1_9__create_a.sql", "CREATE TABLE a (id int);"),
            ("V1.10__add_b.sql", "ALTER TABLE a ADD COLUMN b int;"),
        ],
        "SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY indexrelid::regclass::text) \
         FROM pg_index WHERE indrelid = 'flyway_schema_history'::regclass",
        expect_test::expect![[r#"
            flyway_schema_history (installed_rank integer not null, version character varying(50), description character varying(200) not null, type character varying(20) not null, script character varying(1000) not null, checksum integer, installed_by character varying(100) not null, installed_on timestamp without time zone not null, execution_time integer not null, success boolean not null)
            2 1.10 add b SQL V1.10__add_b.sql t; 1 1.9 create a SQL V1_9__create_a.sql t
            flyway_schema_history_pk,flyway_schema_history_s_idx
        "#]],
    );
    check(
        Format::Refinery,
        &[
            ("V9__create_a.sql", "CREATE TABLE a (id int);"),
            ("V10__add_b.sql", "ALTER TABLE a ADD COLUMN b int;"),
        ],
        "SELECT string_agg((applied_on ~ '^\\d{4}-\\d\\d-\\d\\dT')::text, ',') FROM refinery_schema_history",
        expect_test::expect![[r#"
            refinery_schema_history (version integer not null, name character varying(255), applied_on character varying(255), checksum character varying(255))
            9 create_a; 10 add_b
            true,true
        "#]],
    );
}
