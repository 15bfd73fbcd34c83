//! Hostile and broken input: every case gives its clear error (exit 2) or
//! its finding (exit 1), never a hang or a panic, and leaves nothing behind
//! (each run has a private TMPDIR, checked empty after it, with no process
//! left that mentions it).

mod common;

use std::process::Output;

use common::{assert_nothing_left, migcheck, private_tmp};

const OK: &[u8] = b"CREATE TABLE IF NOT EXISTS t (id int);\n";
/// A second session (through dblink) takes advisory lock 42 and keeps it;
/// the migration's own `pg_advisory_lock(42)` then waits forever.
const LOCKED: &[u8] = b"CREATE EXTENSION IF NOT EXISTS dblink;
DO $$ BEGIN
  PERFORM dblink_connect('migcheck_blocker', format('host=%s port=%s dbname=%s user=%s',
    split_part(current_setting('unix_socket_directories'), ',', 1),
    current_setting('port'), current_database(), current_user));
  PERFORM * FROM dblink('migcheck_blocker', 'SELECT pg_advisory_lock(42)') AS l(x text);
END $$;
SELECT pg_advisory_lock(42);
";

/// The backend's shell kills its grandparent, the postmaster.
const KILL_SERVER: &[u8] = b"CREATE TABLE IF NOT EXISTS t (id int);
DO $$ BEGIN
  EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'kill -KILL $(awk ''{print $4}'' /proc/$PPID/stat)');
END $$;
";

enum Input {
    /// A file or a symbolic link (`-> target`) in the input directory.
    File(&'static str, &'static [u8]),
    Link(&'static str, &'static str),
    /// A file generated at run time (too big to spell).
    Generated(&'static str, fn() -> Vec<u8>),
    /// A named pipe (FIFO) that nothing ever writes to.
    Fifo(&'static str),
}
use Input::{Fifo, File, Generated, Link};

struct Case {
    name: &'static str,
    input: &'static [Input],
    /// `DIR` is the input directory.
    args: &'static [&'static str],
    code: i32,
    /// In stderr (errors) or stdout (findings), with `DIR` for the input.
    expected: &'static str,
}

const CHECK_M: &[&str] = &[
    "check",
    "--migrations",
    "DIR/m",
    "--checks",
    "fresh,rerun",
    "--format",
    "github",
];

/// Each writes /tmp/migcheck-pwned on the host if Postgres lets it.
const COPY_IN_DO: &[u8] = b"DO $$ BEGIN
  EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch /tmp/migcheck-pwned');
END $$;
";
const COPY_IN_FUNCTION: &[u8] = b"CREATE FUNCTION pwn() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  COPY (SELECT 1) TO PROGRAM 'touch /tmp/migcheck-pwned';
END $$;
SELECT pwn();
";
const COPY_IN_TRIGGER: &[u8] = b"CREATE TABLE t (id int);
CREATE FUNCTION pwn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  COPY (SELECT 1) TO PROGRAM 'touch /tmp/migcheck-pwned';
  RETURN NEW;
END $$;
CREATE TRIGGER pwn BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION pwn();
INSERT INTO t VALUES (1);
";
const FILE_FDW: &[u8] = b"CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE pwn (line text) SERVER files
  OPTIONS (program 'touch /tmp/migcheck-pwned');
SELECT * FROM pwn;
";
const INTERNAL_ALIAS: &[u8] = b"CREATE FUNCTION end_session(int) RETURNS bool
  LANGUAGE internal AS 'pg_terminate_backend';
SELECT end_session(pid) FROM pg_stat_activity;
";
/// Loops catching every cancel once its table has rows (the locks check
/// fills every table): only ending the session stops it.
const CANCEL_CAUGHT_LATER: &[u8] = b"DO $$ BEGIN
  LOOP
    BEGIN
      IF EXISTS (SELECT FROM t) THEN
        PERFORM pg_sleep(0.1);
      ELSE
        EXIT;
      END IF;
    EXCEPTION WHEN query_canceled THEN
      RAISE NOTICE 'cancel caught';
    END;
  END LOOP;
END $$;
";
/// Catches every cancel: only ending the session stops it.
const CANCEL_CAUGHT: &[u8] = b"DO $$ BEGIN
  LOOP
    BEGIN
      PERFORM pg_sleep(0.1);
    EXCEPTION WHEN query_canceled THEN
      RAISE NOTICE 'cancel caught';
    END;
  END LOOP;
END $$;
";
const REFUSED_BY_POSTGRES: &str = "must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program (the migrations ran as a role that owns the database but is not a superuser";

const CASES: &[Case] = &[
    // Least privilege: Postgres refuses what acts on the host, however
    // it is spelled, and the run reports it as a finding.
    Case {
        name: "COPY ... PROGRAM in a DO block",
        input: &[File("m/001_a.sql", COPY_IN_DO)],
        args: CHECK_M,
        code: 1,
        expected: REFUSED_BY_POSTGRES,
    },
    Case {
        name: "COPY ... PROGRAM in a function",
        input: &[File("m/001_a.sql", COPY_IN_FUNCTION)],
        args: CHECK_M,
        code: 1,
        expected: REFUSED_BY_POSTGRES,
    },
    Case {
        name: "COPY ... PROGRAM in a trigger",
        input: &[File("m/001_a.sql", COPY_IN_TRIGGER)],
        args: CHECK_M,
        code: 1,
        expected: REFUSED_BY_POSTGRES,
    },
    Case {
        name: "file_fdw with a program",
        input: &[File("m/001_a.sql", FILE_FDW)],
        args: CHECK_M,
        code: 1,
        expected: "permission denied to create extension",
    },
    Case {
        name: "adminpack's pg_file_write",
        input: &[File(
            "m/001_a.sql",
            b"CREATE EXTENSION adminpack;\nSELECT pg_catalog.pg_file_write('/tmp/migcheck-pwned', 'x', false);\n",
        )],
        args: CHECK_M,
        code: 1,
        // Refused for the role before PostgreSQL 17; gone from 17 on.
        expected: "::error file=DIR/m/001_a.sql,line=1,col=1,title=migcheck apply-failed%3A m",
    },
    Case {
        name: "a LANGUAGE internal alias of pg_terminate_backend",
        input: &[File("m/001_a.sql", INTERNAL_ALIAS)],
        args: CHECK_M,
        code: 1,
        expected: "permission denied for language internal",
    },
    Case {
        name: "COPY ... PROGRAM in a scenario's seed",
        input: &[
            File(
                "s.yaml",
                b"migrations: m\nseed:\n  - before: \"002\"\n    sql: |\n      DO $$ BEGIN EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch /tmp/migcheck-pwned'); END $$;\n",
            ),
            File("m/001_a.sql", OK),
            File("m/002_b.sql", b"ALTER TABLE t ADD COLUMN IF NOT EXISTS name text;\n"),
        ],
        args: &["verify", "DIR/s.yaml", "--format", "github"],
        code: 2,
        expected: "must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program (SQLSTATE 42501); fix the scenario's seed SQL",
    },
    Case {
        name: "COPY ... PROGRAM through snapshot --migrations",
        input: &[File("m/001_a.sql", COPY_IN_DO)],
        args: &["snapshot", "--migrations", "DIR/m"],
        code: 2,
        expected: "pg_execute_server_program",
    },
    Case {
        name: "COPY ... PROGRAM through diff",
        input: &[File("m/001_a.sql", OK), File("n/001_a.sql", COPY_IN_DO)],
        args: &["diff", "DIR/m", "DIR/n"],
        code: 2,
        expected: "pg_execute_server_program",
    },
    Case {
        name: "COPY ... PROGRAM through bench",
        input: &[File("m/001_a.sql", OK), File("m/002_b.sql", COPY_IN_DO)],
        args: &["bench", "--migrations", "DIR/m", "--rows", "10"],
        code: 2,
        expected: "pg_execute_server_program",
    },
    Case {
        name: "SET SESSION AUTHORIZATION to the superuser",
        input: &[File(
            "m/001_a.sql",
            b"SET SESSION AUTHORIZATION postgres;\nCREATE TABLE t (id int);\n",
        )],
        args: CHECK_M,
        code: 1,
        expected: "permission denied to set session authorization",
    },
    Case {
        name: "SET ROLE to a role the migration made, as superuser",
        input: &[File(
            "m/001_a.sql",
            b"CREATE ROLE migcheck_hostile_app;\nSET ROLE migcheck_hostile_app;\nCREATE TABLE t (id int);\n",
        )],
        args: &[
            "check",
            "--migrations",
            "DIR/m",
            "--checks",
            "fresh,rerun",
            "--format",
            "github",
            "--superuser",
        ],
        // Runs; the table cannot be created as a role without rights on public.
        code: 1,
        expected: "permission denied for schema public",
    },
    Case {
        name: "an untrusted extension in a scenario that says superuser: true",
        input: &[
            File("s.yaml", b"migrations: m\nsuperuser: true\n"),
            File("m/001_a.sql", b"CREATE EXTENSION IF NOT EXISTS file_fdw;\n"),
        ],
        args: &["verify", "DIR/s.yaml", "--format", "github"],
        code: 0,
        expected: "migcheck: 1 scenario, 0 findings",
    },
    Case {
        name: "a loop that catches every cancel, observed by the locks check",
        input: &[
            File("m/001_a.sql", OK),
            File("m/002_b.sql", CANCEL_CAUGHT_LATER),
        ],
        args: &[
            "check",
            "--migrations",
            "DIR/m",
            "--checks",
            "locks",
            "--statement-timeout",
            "500ms",
        ],
        code: 0,
        expected: "so migcheck ended its session after 2500 ms",
    },
    Case {
        name: "a loop that catches every cancel",
        input: &[File("m/001_a.sql", CANCEL_CAUGHT)],
        args: &[
            "check",
            "--migrations",
            "DIR/m",
            "--checks",
            "fresh",
            "--format",
            "github",
            "--statement-timeout",
            "500ms",
        ],
        code: 1,
        expected: "so migcheck ended its session after 2500 ms) (statement_timeout 500 ms",
    },
    // Scenario files.
    Case {
        name: "malformed yaml",
        input: &[File("s.yaml", b"name: [unclosed\nmigrations: m\n")],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "DIR/s.yaml: line 1, column 7: name: invalid type: sequence, expected a string",
    },
    Case {
        name: "yaml list instead of mapping",
        input: &[File("s.yaml", b"- a\n- b\n")],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "DIR/s.yaml: line 1, column 1: invalid type: sequence, expected struct ScenarioFile",
    },
    Case {
        name: "binary scenario file",
        input: &[File("s.yaml", b"\x00\xff\xfe\x01binary")],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "DIR/s.yaml: not UTF-8 text",
    },
    Case {
        name: "latin-1 scenario file",
        input: &[File("s.yaml", b"name: caf\xe9\nmigrations: m\n")],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "DIR/s.yaml: not UTF-8 text",
    },
    Case {
        name: "empty scenario file",
        input: &[File("s.yaml", b"")],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "DIR/s.yaml: line 1, column 1: missing field `migrations`",
    },
    Case {
        name: "unknown key",
        input: &[File("s.yaml", b"migrations: m\nrunnr: tracked\n")],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "unknown field `runnr`",
    },
    Case {
        name: "brackets nested 100 000 deep",
        input: &[Generated("s.yaml", deep_yaml)],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "DIR/s.yaml: brackets nested more than 128 levels deep",
    },
    Case {
        name: "unknown finding kind",
        input: &[
            File(
                "s.yaml",
                b"migrations: m\nexpect_findings:\n  - kind: exploded\n",
            ),
            File("m/001_a.sql", OK),
        ],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "unknown variant `exploded`",
    },
    Case {
        name: "scenario names a missing directory",
        input: &[File("s.yaml", b"migrations: nowhere\n")],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "nowhere",
    },
    Case {
        name: "scenario directory is a symlink loop",
        input: &[Link("d/loop", ".")],
        args: &["verify", "DIR/d"],
        code: 2,
        expected: "no scenario files (*.yaml) found in DIR/d",
    },
    Case {
        name: "scenario path links to itself",
        input: &[Link("d", "d")],
        args: &["verify", "DIR/d"],
        code: 2,
        expected: "DIR/d",
    },
    // Migration files.
    Case {
        name: "sql that does not parse",
        input: &[File(
            "m/001_a.sql",
            b"CREATE TABLE IF NOT EXISTS t (id int);\nSELEC 1;\n",
        )],
        args: CHECK_M,
        code: 1,
        expected: "::error file=DIR/m/001_a.sql,line=2,col=1,title=migcheck apply-failed%3A m (postgres 15.",
    },
    Case {
        name: "psql meta-command",
        input: &[File("m/001_a.sql", b"\\i other.sql\n")],
        args: CHECK_M,
        code: 1,
        expected: "::error file=DIR/m/001_a.sql,line=1,col=1,title=migcheck apply-failed%3A m (postgres 15.",
    },
    Case {
        name: "latin-1 migration",
        input: &[File("m/001_a.sql", b"CREATE TABLE caf\xe9 (id int);\n")],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql: not UTF-8 text; migrations must be UTF-8 SQL files",
    },
    Case {
        name: "binary migration",
        input: &[File("m/001_a.sql", b"SELECT 1;\x00\x01\x02\xff")],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql",
    },
    Case {
        name: "NUL byte in a migration",
        input: &[File("m/001_a.sql", b"SELECT 1;\x00\x01\x02")],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1:10: does not parse as SQL: contains a NUL byte; is this a binary file?",
    },
    Case {
        name: "migration is a symlink loop",
        input: &[File("m/001_a.sql", OK), Link("m/002_b.sql", "002_b.sql")],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/002_b.sql: Too many levels of symbolic links",
    },
    Case {
        name: "migration directory links to itself",
        input: &[Link("m", "m")],
        args: CHECK_M,
        code: 2,
        expected: "--migrations DIR/m: no such directory",
    },
    Case {
        name: "symlink loop inside the migration directory is skipped",
        input: &[File("m/001_a.sql", OK), Link("m/sub", ".")],
        args: CHECK_M,
        code: 0,
        expected: "0 findings",
    },
    Case {
        name: "huge migration (60 MB)",
        input: &[Generated("m/001_a.sql", huge_sql)],
        args: &["lint", "--migrations", "DIR/m"],
        code: 0,
        expected: "0 findings",
    },
    Case {
        name: "empty migration",
        input: &[File("m/001_a.sql", b"")],
        args: CHECK_M,
        code: 0,
        expected: "0 findings",
    },
    Case {
        name: "two migrations with one version",
        input: &[File("m/1_a.up.sql", OK), File("m/1_b.up.sql", OK)],
        args: CHECK_M,
        code: 2,
        expected: "migrations have version 1: ",
    },
    Case {
        name: "a down without its up",
        input: &[File("m/1_a.up.sql", OK), File("m/2_b.down.sql", OK)],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/2_b.down.sql: a down migration without its up migration",
    },
    // What migrations do on the server.
    Case {
        name: "a statement that sleeps forever",
        input: &[File(
            "m/001_a.sql",
            b"CREATE TABLE IF NOT EXISTS t (id int);\nSELECT pg_sleep(1000000);\n",
        )],
        args: &[
            "check",
            "--migrations",
            "DIR/m",
            "--checks",
            "fresh,rerun",
            "--format",
            "github",
            "--statement-timeout",
            "300ms",
        ],
        code: 1,
        expected: "::error file=DIR/m/001_a.sql,line=2,col=1,title=migcheck timeout%3A m (postgres 15",
    },
    Case {
        name: "a migration that turns statement_timeout off, then sleeps forever",
        input: &[File(
            "m/001_a.sql",
            b"SET statement_timeout = 0;\nSELECT pg_sleep(1000000);\n",
        )],
        args: &[
            "check",
            "--migrations",
            "DIR/m",
            "--checks",
            "fresh",
            "--format",
            "github",
            "--statement-timeout",
            "200ms",
        ],
        code: 1,
        expected: "::error file=DIR/m/001_a.sql,line=2,col=1,title=migcheck timeout%3A m (postgres 1",
    },
    Case {
        name: "a statement that waits on a lock forever",
        input: &[File("m/001_a.sql", LOCKED)],
        args: &[
            "check",
            "--migrations",
            "DIR/m",
            "--checks",
            "fresh",
            "--format",
            "github",
            "--lock-timeout",
            "300ms",
            // dblink is not a trusted extension.
            "--superuser",
        ],
        code: 1,
        expected: "::canceling statement due to lock timeout (lock_timeout 300 ms; raise it with --lock-timeout)",
    },
    Case {
        name: "a migration that terminates its own backend",
        input: &[File(
            "m/001_a.sql",
            b"DO $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$;\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "lost the connection to Postgres while applying 001_a.sql",
    },
    Case {
        name: "a migration that kills the server (dynamic SQL, unseen by the guard), as superuser",
        input: &[File("m/001_a.sql", KILL_SERVER)],
        args: &[
            "check",
            "--migrations",
            "DIR/m",
            "--checks",
            "fresh,rerun",
            "--superuser",
        ],
        code: 2,
        expected: "migcheck: the server closed the connection: a migration may have ended its own session (pg_terminate_backend) or stopped the server",
    },
    Case {
        name: "pg_terminate_backend",
        input: &[File(
            "m/001_a.sql",
            b"SELECT 1;\nSELECT pg_terminate_backend(pid) FROM pg_stat_activity;\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:2: pg_terminate_backend() ends another session (or migcheck's own); migcheck does not run statements that act outside the databases it creates",
    },
    Case {
        name: "DROP DATABASE of migcheck's own database",
        input: &[File(
            "m/001_a.sql",
            b"DROP DATABASE IF EXISTS migcheck_template_1_0;\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1: DROP DATABASE drops a database migcheck did not create for this case",
    },
    Case {
        name: "CREATE DATABASE",
        input: &[File("m/001_a.sql", b"CREATE DATABASE other;\n")],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1: CREATE DATABASE creates a database outside migcheck's sandboxes",
    },
    Case {
        name: "COPY TO PROGRAM",
        input: &[File(
            "m/001_a.sql",
            b"COPY (SELECT 1) TO PROGRAM 'touch /tmp/migcheck-pwned';\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1: COPY ... PROGRAM runs a shell command on the server's host",
    },
    Case {
        name: "COPY FROM PROGRAM",
        input: &[
            File("m/001_a.sql", OK),
            File("m/002_b.sql", b"-- load\n\nCOPY t FROM PROGRAM 'echo 1';\n"),
        ],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/002_b.sql:3: COPY ... PROGRAM runs a shell command",
    },
    Case {
        name: "COPY to a server file",
        input: &[File(
            "m/001_a.sql",
            b"COPY (SELECT 1) TO '/tmp/migcheck-pwned';\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1: COPY with a file name reads or writes a file on the server's host",
    },
    Case {
        name: "COPY FROM STDIN without its data",
        input: &[File(
            "m/001_a.sql",
            b"CREATE TABLE IF NOT EXISTS t (id int);\nCOPY t FROM STDIN;\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:2: COPY ... FROM STDIN / TO STDOUT streams rows to or from a client; migcheck sends each statement on its own",
    },
    Case {
        name: "COPY TO STDOUT",
        input: &[File(
            "m/001_a.sql",
            b"CREATE TABLE IF NOT EXISTS t (id int);\nCOPY t TO STDOUT;\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:2: COPY ... FROM STDIN / TO STDOUT streams rows",
    },
    Case {
        name: "COPY FROM STDIN with psql's inline data",
        input: &[File(
            "m/001_a.sql",
            b"CREATE TABLE IF NOT EXISTS t (id int);\nCOPY t FROM STDIN;\n1\n2\n\\.\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:2: COPY ... FROM STDIN / TO STDOUT streams rows",
    },
    Case {
        name: "ALTER SYSTEM",
        input: &[File("m/001_a.sql", b"ALTER SYSTEM SET work_mem = '1GB';\n")],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1: ALTER SYSTEM changes the configuration of the whole server",
    },
    Case {
        name: "CREATE TABLESPACE",
        input: &[File(
            "m/001_a.sql",
            b"CREATE TABLESPACE x LOCATION '/tmp';\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1: a tablespace is a directory on the server's host",
    },
    Case {
        name: "LOAD",
        input: &[File("m/001_a.sql", b"LOAD 'auto_explain';\n")],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1: LOAD loads a shared library into the server",
    },
    Case {
        name: "lo_export",
        input: &[File(
            "m/001_a.sql",
            b"SELECT lo_export(1, '/tmp/migcheck-pwned');\n",
        )],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/001_a.sql:1: lo_export() writes a file on the server's host",
    },
    Case {
        name: "pg_reload_conf in a down migration",
        input: &[
            File("m/1_a.up.sql", OK),
            File("m/1_a.down.sql", b"SELECT pg_catalog.pg_reload_conf();\n"),
        ],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/1_a.down.sql:1: pg_reload_conf() reloads the server's configuration",
    },
    Case {
        name: "a legacy state with ALTER SYSTEM",
        input: &[
            File("m/001_a.sql", OK),
            File("old.sql", b"ALTER SYSTEM SET fsync = on;\n"),
        ],
        args: &["check", "--migrations", "DIR/m", "--legacy", "DIR/old.sql"],
        code: 2,
        expected: "DIR/old.sql:1: ALTER SYSTEM",
    },
    Case {
        name: "an error message full of control characters and markup",
        input: &[File(
            "m/001_a.sql",
            b"DO $$ BEGIN RAISE EXCEPTION E'\\x01\\x1b[31m <b>&</b> %%0A'; END $$;\n",
        )],
        args: CHECK_M,
        code: 1,
        expected: "::error file=DIR/m/001_a.sql,line=1,col=1,title=migcheck apply-failed%3A m",
    },
    // Issue 16: bounded input, sanitised output, scenario ids.
    Case {
        name: "a FIFO among the migrations",
        input: &[File("m/001_a.sql", OK), Fifo("m/002_b.sql")],
        args: &["lint", "--migrations", "DIR/m"],
        code: 2,
        expected: "DIR/m/002_b.sql: is a named pipe (FIFO), not a regular file; migcheck reads only regular files",
    },
    Case {
        name: "a migration that links to /dev/zero",
        input: &[File("m/001_a.sql", OK), Link("m/002_b.sql", "/dev/zero")],
        args: CHECK_M,
        code: 2,
        expected: "DIR/m/002_b.sql: is a character device (a link to /dev/zero), not a regular file",
    },
    Case {
        name: "a down migration that links to /dev/urandom",
        input: &[
            File("m/1_a.up.sql", OK),
            Link("m/1_a.down.sql", "/dev/urandom"),
        ],
        args: &["lint", "--migrations", "DIR/m"],
        code: 2,
        expected: "DIR/m/1_a.down.sql: is a character device (a link to /dev/urandom)",
    },
    Case {
        name: "a scenario file that is a FIFO",
        input: &[Fifo("s.yaml")],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "DIR/s.yaml: is a named pipe (FIFO), not a regular file",
    },
    Case {
        name: "a scenario's legacy file that is a FIFO",
        input: &[
            File("m/001_a.sql", OK),
            File(
                "s.yaml",
                b"migrations: m\nlegacy:\n  - name: dump\n    file: dump.sql\n",
            ),
            Fifo("dump.sql"),
        ],
        args: &["verify", "DIR/s.yaml"],
        code: 2,
        expected: "DIR/dump.sql: is a named pipe (FIFO), not a regular file",
    },
    Case {
        name: "a --legacy file that links to /dev/zero",
        input: &[File("m/001_a.sql", OK), Link("old.sql", "/dev/zero")],
        args: &["check", "--migrations", "DIR/m", "--legacy", "DIR/old.sql"],
        code: 2,
        expected: "DIR/old.sql: is a character device (a link to /dev/zero)",
    },
    Case {
        name: "an --expect file that is a FIFO",
        input: &[File("m/001_a.sql", OK), Fifo("expect.yaml")],
        args: &[
            "check",
            "--migrations",
            "DIR/m",
            "--expect",
            "DIR/expect.yaml",
        ],
        code: 2,
        expected: "DIR/expect.yaml: is a named pipe (FIFO)",
    },
    Case {
        name: "a snapshot file that links to /dev/zero",
        input: &[File("m/001_a.sql", OK), Link("a.json", "/dev/zero")],
        args: &["diff", "DIR/a.json", "DIR/m"],
        code: 2,
        expected: "DIR/a.json: is a character device (a link to /dev/zero)",
    },
    Case {
        name: "a migration larger than --max-file-size",
        input: &[
            File("m/001_a.sql", OK),
            Generated("m/002_b.sql", two_kib_sql),
        ],
        args: &["lint", "--migrations", "DIR/m", "--max-file-size", "1k"],
        code: 2,
        expected: "DIR/m/002_b.sql: 2 KiB is more than the limit of 1 KiB on an input file; raise it with --max-file-size (or MIGCHECK_MAX_FILE_SIZE)",
    },
    Case {
        name: "--max-file-size raised lets it in",
        input: &[
            File("m/001_a.sql", OK),
            Generated("m/002_b.sql", two_kib_sql),
        ],
        args: &["lint", "--migrations", "DIR/m", "--max-file-size", "4k"],
        code: 0,
        expected: "0 findings",
    },
    Case {
        name: "a migration over the default limit (64 MiB)",
        input: &[Generated("m/001_a.sql", over_64_mib_sql)],
        args: &["lint", "--migrations", "DIR/m"],
        code: 2,
        expected: "DIR/m/001_a.sql: 65 MiB is more than the limit of 64 MiB on an input file; raise it with --max-file-size (or MIGCHECK_MAX_FILE_SIZE), e.g. --max-file-size 128MB",
    },
    Case {
        name: "ESC, CR and a workflow command in RAISE text, human report",
        input: &[File("m/001_a.sql", RAISE_HOSTILE)],
        args: &["check", "--migrations", "DIR/m", "--checks", "fresh"],
        code: 1,
        expected: "clear\\x1b[2J\\x1b]0;title\\x07 over\\rwrite\n\\::error file=x.sql::pwned\nold ##\\[error]style",
    },
    Case {
        name: "a workflow command in a migration's file name",
        input: &[Generated("m/001_a\n::error::x.sql", || b"\xff".to_vec())],
        args: &["lint", "--migrations", "DIR/m"],
        code: 2,
        expected: "DIR/m/001_a\n\\::error::x.sql: not UTF-8 text",
    },
];

/// A server message meant for a terminal and a CI log: clear the screen,
/// set the window title, overwrite the line, and two workflow commands.
const RAISE_HOSTILE: &[u8] = b"DO $$ BEGIN RAISE EXCEPTION E'clear\\x1b[2J\\x1b]0;title\\x07 over\\rwrite\\n::error file=x.sql::pwned\\nold ##[error]style'; END $$;\n";

fn two_kib_sql() -> Vec<u8> {
    let mut sql = OK.to_vec();
    sql.resize(2048, b' ');
    sql
}

fn over_64_mib_sql() -> Vec<u8> {
    let mut sql = OK.to_vec();
    sql.resize(65 << 20, b'\n');
    sql
}

fn deep_yaml() -> Vec<u8> {
    format!(
        "migrations: m\nname: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    )
    .into_bytes()
}

fn huge_sql() -> Vec<u8> {
    let mut sql = OK.to_vec();
    let comment = format!("-- {}\n", "x".repeat(1000));
    for _ in 0..60_000 {
        sql.extend_from_slice(comment.as_bytes());
    }
    sql
}

fn run(case: &Case) -> Result<(), String> {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-hostile-")
        .tempdir()
        .expect("temp dir");
    for item in case.input {
        let (File(name, _) | Generated(name, _) | Link(name, _) | Fifo(name)) = item;
        let path = input.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        match item {
            File(_, bytes) => std::fs::write(&path, bytes).expect("write"),
            Generated(_, make) => std::fs::write(&path, make()).expect("write"),
            Link(_, target) => std::os::unix::fs::symlink(target, &path).expect("symlink"),
            Fifo(_) => {
                let status = std::process::Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .expect("run mkfifo");
                assert!(status.success(), "mkfifo {}", path.display());
            }
        }
    }
    let dir = input.path().display().to_string();
    let args: Vec<String> = case.args.iter().map(|a| a.replace("DIR", &dir)).collect();
    let output: Output = migcheck(
        tmp.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .output()
    .expect("run migcheck");
    let stdout = String::from_utf8_lossy(&output.stdout).replace(&dir, "DIR");
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&dir, "DIR");
    let shown = || {
        format!(
            "migcheck {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            case.args
        )
    };
    if output.status.code() != Some(case.code) {
        return Err(format!(
            "exit code {:?}, expected {}\n{}",
            output.status.code(),
            case.code,
            shown()
        ));
    }
    if !stdout.contains(case.expected) && !stderr.contains(case.expected) {
        return Err(format!("expected to see:\n{}\n{}", case.expected, shown()));
    }
    if stderr.contains("panicked") {
        return Err(format!("panicked\n{}", shown()));
    }
    std::panic::catch_unwind(|| assert_nothing_left(tmp.path())).map_err(|e| {
        let text = e.downcast_ref::<String>().cloned().unwrap_or_default();
        format!("left something behind: {text}")
    })
}

#[test]
fn every_hostile_input_gives_its_error_or_finding_and_leaves_nothing() {
    assert!(
        CASES.len() >= 30,
        "the issue asks for at least 30 hostile inputs"
    );
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|case| run(case).err().map(|e| format!("--- {}: {e}", case.name)))
        .collect();
    // The COPY ... PROGRAM and COPY TO file cases would have created it.
    assert!(!std::path::Path::new("/tmp/migcheck-pwned").exists());
    assert!(
        failures.is_empty(),
        "{} of {} hostile inputs misbehaved:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn control_characters_in_a_server_message_still_give_well_formed_junit() {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-hostile-")
        .tempdir()
        .expect("temp dir");
    let m = input.path().join("m");
    std::fs::create_dir_all(&m).expect("mkdir");
    std::fs::write(
        m.join("001_a.sql"),
        b"DO $$ BEGIN RAISE EXCEPTION E'\\x01\\x1b[31m <b>&</b> ]]>'; END $$;\n",
    )
    .expect("write");
    let junit = input.path().join("r.xml");
    let output = migcheck(
        tmp.path(),
        &[
            "check",
            "--migrations",
            &m.display().to_string(),
            "--checks",
            "fresh",
            "--format",
            "junit",
            "--output",
            &junit.display().to_string(),
        ],
    )
    .output()
    .expect("run migcheck");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure");
    let message = failure.attribute("message").expect("message");
    assert!(message.contains("\\x01\\x1b[31m <b>&</b> ]]>"), "{message}");
    assert_nothing_left(tmp.path());
}

/// Issue 16: a migration's RAISE text and a hostile file name, through
/// every report format at once: no raw control character reaches stdout,
/// stderr or a report file, and no line is a GitHub workflow command
/// (`::` at the start of a line, after blanks) or holds the older `##[`.
#[test]
fn no_report_format_passes_control_characters_or_workflow_commands_through() {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-hostile-")
        .tempdir()
        .expect("temp dir");
    let m = input.path().join("m");
    std::fs::create_dir_all(&m).expect("mkdir");
    std::fs::write(m.join("001_\x1b[2J::a.sql"), RAISE_HOSTILE).expect("write");
    let dir = input.path().display().to_string();
    let formats = ["json", "junit", "sarif", "github", "markdown"];
    let mut args = vec![
        "check".to_string(),
        "--migrations".into(),
        m.display().to_string(),
        "--checks".into(),
        "fresh".into(),
        "--progress".into(),
    ];
    for format in formats {
        args.extend([
            "--format".into(),
            format.into(),
            "--output".into(),
            format!("{dir}/report.{format}"),
        ]);
    }
    // The one without an --output, to stdout.
    args.extend(["--format".into(), "human".into()]);
    let output = migcheck(
        tmp.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .output()
    .expect("run migcheck");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut texts = vec![
        ("stdout".to_string(), output.stdout.clone()),
        ("stderr".to_string(), output.stderr.clone()),
    ];
    for format in formats {
        let path = format!("{dir}/report.{format}");
        texts.push((path.clone(), std::fs::read(&path).expect("report written")));
    }
    for (name, bytes) in &texts {
        let text = String::from_utf8_lossy(bytes);
        for raw in ['\x1b', '\r', '\x07', '\0'] {
            assert!(!text.contains(raw), "{raw:?} in {name}:\n{text}");
        }
        assert!(!text.contains("##["), "##[ in {name}:\n{text}");
        for line in text.lines() {
            let line = line.trim_start();
            // The github format's own annotations are the only commands.
            let own = name.ends_with(".github") && line.starts_with("::error file=");
            assert!(
                own || !line.starts_with("::"),
                "a workflow command in {name}: {line}\n{text}"
            );
        }
    }
    let human = String::from_utf8_lossy(&output.stdout);
    assert!(
        human.contains("clear\\x1b[2J\\x1b]0;title\\x07 over\\rwrite\n\\::error file=x.sql::pwned"),
        "the message shown with visible escapes:\n{human}"
    );
    let json: serde_json::Value = serde_json::from_slice(&texts[2].1).expect("JSON report");
    assert_eq!(
        json["findings"][0]["message"]
            .as_str()
            .map(|m| m.contains("\x1b[2J")),
        Some(true),
        "JSON keeps the message as the server sent it (escaped by JSON itself):\n{json}"
    );
    assert_nothing_left(tmp.path());
}

/// Issue 16: the same scenario file name under two roots is two scenarios,
/// in every report and in the version matrix, whether the run is given
/// their parent or both roots.
#[test]
fn scenarios_with_one_name_under_two_roots_stay_two() {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-hostile-")
        .tempdir()
        .expect("temp dir");
    let root = input.path();
    for (group, sql) in [("ok", OK), ("err", &b"SELEC 1;\n"[..])] {
        std::fs::create_dir_all(root.join(group).join("m")).expect("mkdir");
        std::fs::write(root.join(group).join("m/001_a.sql"), sql).expect("write");
        std::fs::write(
            root.join(group).join("x.yaml"),
            "migrations: m\nchecks: [fresh]\n",
        )
        .expect("write");
    }
    let dir = root.display().to_string();
    let runs: [&[String]; 2] = [
        std::slice::from_ref(&dir),
        &[format!("{dir}/ok"), format!("{dir}/err")],
    ];
    for paths in runs {
        let mut args: Vec<&str> = vec!["verify"];
        args.extend(paths.iter().map(String::as_str));
        let json_path = format!("{dir}/report.json");
        args.extend(["--pg-version", "15,18", "--format", "json", "--output"]);
        args.extend([json_path.as_str(), "--format", "human"]);
        let output = migcheck(tmp.path(), &args).output().expect("run migcheck");
        let human = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{human}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json_path).expect("JSON report")).expect("JSON");
        assert_eq!(json["summary"]["scenarios"], 2, "{json}");
        // Sorted: the run's order follows its arguments.
        let mut verdicts: Vec<String> = json["scenarios"]
            .as_array()
            .expect("scenarios")
            .iter()
            .map(|s| format!("{} {}", s["id"].as_str().unwrap_or("?"), s["ok"]))
            .collect();
        verdicts.sort();
        assert_eq!(
            verdicts,
            ["err/x false", "err/x false", "ok/x true", "ok/x true"],
            "{json}"
        );
        // The matrix: a row per id, the failing twin failing on both.
        let mut rows: Vec<String> = human
            .lines()
            .filter(|l| (l.starts_with("ok/x ") || l.starts_with("err/x ")) && !l.contains('·'))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        rows.sort();
        assert_eq!(rows, ["err/x 1 failing 1 failing", "ok/x ok ok"], "{human}");
    }
    assert_nothing_left(tmp.path());
}
