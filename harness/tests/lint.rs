//! `lint`: static analysis of migration sets, as tables of SQL files and the
//! findings they must produce, rendered `kind file:line:column message`
//! (one per line), or `error ...` when lint refuses the set, in `expect!`
//! snapshots: after an intended change, `UPDATE_EXPECT=1 cargo test -p
//! migcheck --test lint` rewrites them; review the diff.

use std::path::{Path, PathBuf};

use expect_test::{Expect, expect};
use migcheck::finding::{Kind, Severity};
use migcheck::lint;
use migcheck::migrations::{Format, MigrationSet};
use migcheck::scenario::Scenario;

/// Writes `files` into a fresh directory, lints it, and compares the
/// rendered findings with `expected`.
fn check(files: &[(&str, &str)], expected: Expect) {
    let dir = tempfile::Builder::new()
        .prefix("migcheck-test-")
        .tempdir()
        .expect("temp dir");
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).expect("write migration");
    }
    let set = MigrationSet::load(dir.path(), Format::Auto).expect("the test's set loads");
    let actual = match lint(&set) {
        Ok(findings) => findings
            .iter()
            .map(|f| {
                format!(
                    "{} {}:{}:{} {}\n",
                    f.kind,
                    f.migration.as_deref().unwrap_or("?"),
                    f.line.unwrap_or(0),
                    f.column.unwrap_or(0),
                    f.message
                )
            })
            .collect(),
        Err(e) => format!("error {e}\n").replace(&format!("{}/", dir.path().display()), ""),
    };
    expected.assert_eq(&actual);
}

/// The files of a bundled scenario's migration set.
fn scenario(path: &str) -> Vec<(String, String)> {
    let dir = scenarios().join(path);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            let sql = std::fs::read_to_string(&path).expect("read scenario file");
            (name, sql)
        })
        .collect();
    files.sort();
    files
}

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn borrowed(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect()
}

// --- index-before-column ---------------------------------------------------

#[test]
fn lint_bundled_jobs_scenarios() {
    check(
        &borrowed(&scenario("err/jobs-before-chat-id")),
        expect![[r#"
            index-before-column 002_jobs.sql:12:54 column jobs.chat_id is only created conditionally at 002_jobs.sql:7:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
        "#]],
    );
    check(&borrowed(&scenario("ok/jobs-before-chat-id")), expect![""]);
}

#[test]
fn lint_no_ok_scenario_gets_an_error_finding() {
    let mut failures = Vec::new();
    for scenario in Scenario::discover(&scenarios()).expect("bundled scenarios load") {
        // As `migcheck lint` judges it: for the scenario's runner.
        let findings = migcheck::pipeline::lint(&scenario)
            .unwrap_or_else(|e| panic!("{}: {e}", scenario.id))
            .findings;
        for f in &findings {
            let line = format!(
                "{} {} {}:{}:{} {}",
                scenario.id,
                f.kind,
                f.migration.as_deref().unwrap_or("?"),
                f.line.unwrap_or(0),
                f.column.unwrap_or(0),
                f.message
            );
            // `cargo test -- --nocapture` lists what lint says about the corpus.
            println!("{line}");
            let accepted = scenario.ignore.iter().any(|i| i.matches(f));
            if scenario.id.starts_with("ok/") && f.severity == Severity::Error && !accepted {
                failures.push(line);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "scenarios under ok/ must pass lint; fix the scenario or the rule:\n{}",
        failures.join("\n")
    );
}

/// A bug the corpus shows by running a legacy state (`legacy-apply-failed`)
/// must also be seen by lint, without running anything, at the same place.
#[test]
fn lint_finds_every_legacy_apply_failure_of_the_corpus() {
    let mut missed = Vec::new();
    for scenario in Scenario::discover(&scenarios()).expect("bundled scenarios load") {
        // As `migcheck lint` judges it: for the scenario's runner.
        let findings = migcheck::pipeline::lint(&scenario)
            .unwrap_or_else(|e| panic!("{}: {e}", scenario.id))
            .findings;
        for pinned in &scenario.expect_findings {
            if pinned.kind != Kind::LegacyApplyFailed {
                continue;
            }
            let seen = findings.iter().any(|f| {
                f.kind == Kind::IndexBeforeColumn
                    && pinned
                        .migration
                        .as_ref()
                        .is_none_or(|m| f.migration.as_ref() == Some(m))
                    && pinned.line.is_none_or(|l| f.line == Some(l))
            });
            if !seen {
                missed.push(format!(
                    "{}: {} at {}:{}",
                    scenario.id,
                    pinned.kind,
                    pinned.migration.as_deref().unwrap_or("?"),
                    pinned.line.unwrap_or(0)
                ));
            }
        }
    }
    assert!(
        missed.is_empty(),
        "lint does not see these legacy-apply-failed bugs; teach the rule, or say in the scenario why it cannot:\n{}",
        missed.join("\n")
    );
}

#[test]
fn lint_create_table_if_not_exists() {
    // Columns of a table that may already exist only may exist, except
    // those shaped like the table's first version (NOT NULL, primary key).
    check(
        &[
            (
                "001_t.sql",
                "CREATE TABLE IF NOT EXISTS t (\n    id bigserial PRIMARY KEY,\n    a int NOT NULL,\n    b int\n);\nCREATE INDEX IF NOT EXISTS t_a ON t (a);\nCREATE INDEX IF NOT EXISTS t_b ON t (id, b);\n",
            ),
            (
                "002_t.sql",
                "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int;\nCREATE INDEX IF NOT EXISTS t_b2 ON t (b);\n",
            ),
        ],
        expect![[r#"
            index-before-column 001_t.sql:7:42 column t.b is only created conditionally at 001_t.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when t already exists); add it with `ALTER TABLE t ADD COLUMN IF NOT EXISTS b ...` before using it
        "#]],
    );
    // A plain CREATE TABLE makes every column certain (and warns about
    // the rerun); a later CREATE TABLE IF NOT EXISTS then does nothing.
    check(
        &[
            (
                "001_t.sql",
                "CREATE TABLE t (id int, a int);\nCREATE INDEX IF NOT EXISTS t_a ON t (a);\n",
            ),
            (
                "002_t.sql",
                "CREATE TABLE IF NOT EXISTS t (id int, a int, c int);\nCREATE INDEX IF NOT EXISTS t_c ON t (c);\n",
            ),
        ],
        expect![[r#"
            non-idempotent-statement 001_t.sql:1:1 CREATE TABLE t fails with "relation already exists" when it runs again; write CREATE TABLE IF NOT EXISTS
            index-before-column 002_t.sql:2:38 column t.c is never created: t already exists (created at 001_t.sql:1:1), so the CREATE TABLE at 002_t.sql:1:1 does nothing
        "#]],
    );
    // Dropped first: the CREATE TABLE IF NOT EXISTS surely creates it.
    check(
        &[(
            "001_t.sql",
            "DROP TABLE IF EXISTS t;\nCREATE TABLE IF NOT EXISTS t (id int, b int);\nCREATE INDEX IF NOT EXISTS t_b ON t (b);\n",
        )],
        expect![""],
    );
    // Schemas are kept apart; tables the set never creates are not judged.
    check(
        &[(
            "001_t.sql",
            "CREATE TABLE IF NOT EXISTS app.t (id int, b int);\nCREATE INDEX IF NOT EXISTS t_b ON t (b);\nCREATE INDEX IF NOT EXISTS legacy_x ON legacy (x);\nCREATE INDEX IF NOT EXISTS t_b2 ON app.t (b);\n",
        )],
        expect![[r#"
            index-before-column 001_t.sql:4:43 column app.t.b is only created conditionally at 001_t.sql:1:43 (CREATE TABLE IF NOT EXISTS does nothing when app.t already exists); add it with `ALTER TABLE app.t ADD COLUMN IF NOT EXISTS b ...` before using it
        "#]],
    );
}

#[test]
fn lint_every_kind_of_reference() {
    let create = "CREATE TABLE IF NOT EXISTS jobs (\n    id bigserial PRIMARY KEY,\n    user_id bigint NOT NULL,\n    chat_id bigint\n);\nCREATE TABLE IF NOT EXISTS chats (id bigint PRIMARY KEY, jobs_chat bigint);\n";
    let uses = [
        "CREATE INDEX IF NOT EXISTS i1 ON jobs (user_id) INCLUDE (chat_id);",
        "CREATE INDEX IF NOT EXISTS i2 ON jobs ((chat_id + 1));",
        "CREATE INDEX IF NOT EXISTS i3 ON jobs (user_id) WHERE chat_id IS NOT NULL;",
        "ALTER TABLE jobs ADD CONSTRAINT u UNIQUE (user_id, chat_id);",
        "ALTER TABLE jobs ADD CONSTRAINT c CHECK (chat_id > 0);",
        "ALTER TABLE jobs ADD CONSTRAINT f FOREIGN KEY (chat_id) REFERENCES chats (id);",
        "ALTER TABLE chats ADD CONSTRAINT g FOREIGN KEY (id) REFERENCES jobs (chat_id);",
        "ALTER TABLE jobs ALTER COLUMN chat_id SET NOT NULL;",
        "CREATE OR REPLACE VIEW v AS SELECT j.id, j.chat_id FROM jobs j;",
        "CREATE OR REPLACE VIEW w AS SELECT id FROM jobs JOIN chats c ON c.id = chat_id;",
        "CREATE OR REPLACE TRIGGER t BEFORE UPDATE OF chat_id ON jobs FOR EACH ROW EXECUTE FUNCTION f();",
        "CREATE OR REPLACE TRIGGER t2 AFTER UPDATE ON jobs FOR EACH ROW WHEN (NEW.chat_id IS NULL) EXECUTE FUNCTION f();",
        "COMMENT ON COLUMN jobs.chat_id IS 'the chat';",
        "UPDATE jobs SET chat_id = 1 WHERE id = 2;",
        "UPDATE jobs SET user_id = 1 WHERE chat_id = 2;",
        "INSERT INTO jobs (user_id, chat_id) VALUES (1, 2);",
        "DELETE FROM jobs WHERE chat_id IS NULL;",
        "COMMENT ON COLUMN jobs.user_id IS 'fine';",
    ];
    check(
        &[
            ("001_tables.sql", create),
            ("002_uses.sql", &uses.join("\n")),
        ],
        expect![[r#"
            index-before-column 002_uses.sql:1:58 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:2:41 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:3:55 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            non-idempotent-statement 002_uses.sql:4:1 ADD CONSTRAINT u fails with "already exists" when it runs again, and has no IF NOT EXISTS; drop it first with DROP CONSTRAINT IF EXISTS, or add it in a DO block that checks pg_constraint
            index-before-column 002_uses.sql:4:52 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            non-idempotent-statement 002_uses.sql:5:1 ADD CONSTRAINT c fails with "already exists" when it runs again, and has no IF NOT EXISTS; drop it first with DROP CONSTRAINT IF EXISTS, or add it in a DO block that checks pg_constraint
            index-before-column 002_uses.sql:5:42 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            non-idempotent-statement 002_uses.sql:6:1 ADD CONSTRAINT f fails with "already exists" when it runs again, and has no IF NOT EXISTS; drop it first with DROP CONSTRAINT IF EXISTS, or add it in a DO block that checks pg_constraint
            index-before-column 002_uses.sql:6:48 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            non-idempotent-statement 002_uses.sql:7:1 ADD CONSTRAINT g fails with "already exists" when it runs again, and has no IF NOT EXISTS; drop it first with DROP CONSTRAINT IF EXISTS, or add it in a DO block that checks pg_constraint
            index-before-column 002_uses.sql:7:70 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:8:31 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:9:42 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:10:72 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:11:46 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:12:70 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:13:24 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:14:17 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:15:35 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:16:28 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_uses.sql:17:24 column jobs.chat_id is only created conditionally at 001_tables.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
        "#]],
    );
}

#[test]
fn lint_do_blocks() {
    // The invoices shape: the table is created in the branch that runs
    // when it is missing, like IF NOT EXISTS; a nullable column added to it
    // since may be missing on old databases.
    let create_invoices = "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_tables\n                   WHERE schemaname = 'public' AND tablename = 'invoices') THEN\n        CREATE TABLE invoices (\n            id        bigserial PRIMARY KEY,\n            tenant_id bigint NOT NULL,\n            note      text\n        );\n        CREATE INDEX idx_invoices_note_inside ON invoices (note);\n    END IF;\nEND\n$$;\n";
    check(
        &[
            ("001_invoices.sql", create_invoices),
            (
                "002_index.sql",
                "CREATE INDEX IF NOT EXISTS idx_invoices_tenant ON invoices (tenant_id);\nCREATE INDEX IF NOT EXISTS idx_invoices_note ON invoices (note);\n",
            ),
        ],
        expect![[r#"
            index-before-column 002_index.sql:2:59 column invoices.note is only created conditionally at 001_invoices.sql:8:13 (the IF at 001_invoices.sql:3:5 creates invoices only when it does not exist yet); add it with `ALTER TABLE invoices ADD COLUMN IF NOT EXISTS note ...` before using it
        "#]],
    );
    // A column added under a condition that is not about it; the index is
    // inside a DO block too, and is located there.
    check(
        &[
            (
                "001_jobs.sql",
                "CREATE TABLE IF NOT EXISTS jobs (id bigserial PRIMARY KEY);\n",
            ),
            (
                "002_chat.sql",
                "DO $$\nBEGIN\n    IF current_setting('app.chats', true) = 'on' THEN\n        ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id bigint;\n    END IF;\n    CREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n    EXECUTE 'COMMENT ON COLUMN jobs.chat_id IS ''chat''';\nEND\n$$;\n",
            ),
        ],
        expect![[r#"
            index-before-column 002_chat.sql:6:55 column jobs.chat_id is only added conditionally at 002_chat.sql:4:51 (inside the IF at 002_chat.sql:3:5); add it unconditionally with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            index-before-column 002_chat.sql:7:37 column jobs.chat_id is only added conditionally at 002_chat.sql:4:51 (inside the IF at 002_chat.sql:3:5); add it unconditionally with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
        "#]],
    );
    // Statements later in the branch that created the table run only where
    // it did: the bundled invoices sets (the index inside the branch is a
    // divergence, found by running them, not a missing column). After the
    // block, `status` (NOT NULL with a default) may be newer than an older
    // invoices table: a warning that names that assumption.
    check(&borrowed(&scenario("err/invoices-do-block")), expect![""]);
    check(
        &borrowed(&scenario("ok/invoices-do-block")),
        expect![[r#"
        index-before-column 001_invoices.sql:18:79 column invoices.status is only created conditionally at 001_invoices.sql:11:13 (the IF at 001_invoices.sql:6:5 creates invoices only when it does not exist yet, and an older invoices lacks it if it was added after the table's first version, as NOT NULL columns with a default can be); add it with `ALTER TABLE invoices ADD COLUMN IF NOT EXISTS status ...` before using it
    "#]],
    );
    // A table created under a condition that is not about it, then used
    // after the block.
    check(
        &[(
            "001_audit.sql",
            "DO $$\nBEGIN\n    IF current_setting('app.audit', true) = 'on' THEN\n        CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz NOT NULL);\n    END IF;\nEND\n$$;\nCREATE INDEX IF NOT EXISTS audit_at ON audit (at);\n",
        )],
        expect![[r#"
            non-idempotent-statement 001_audit.sql:4:9 CREATE TABLE audit fails with "relation already exists" when it runs again; write CREATE TABLE IF NOT EXISTS
            index-before-column 001_audit.sql:8:47 column audit.at is only created conditionally at 001_audit.sql:4:52 (the IF at 001_audit.sql:3:5 may skip creating audit)
        "#]],
    );
    // Guards that make the column certain: a check for the column itself,
    // the ELSE of a check that it exists, an EXCEPTION clause.
    for guard in [
        "IF NOT EXISTS (SELECT 1 FROM information_schema.columns\n               WHERE table_name = 'jobs' AND column_name = 'chat_id') THEN\n    ALTER TABLE jobs ADD COLUMN chat_id bigint;\nEND IF;",
        "PERFORM 1 FROM pg_attribute WHERE attrelid = 'jobs'::regclass AND attname = 'chat_id';\nIF FOUND THEN\n    NULL;\nELSE\n    ALTER TABLE jobs ADD COLUMN chat_id bigint;\nEND IF;",
        "BEGIN\n    ALTER TABLE jobs ADD COLUMN chat_id bigint;\nEXCEPTION WHEN duplicate_column THEN NULL;\nEND;",
    ] {
        let chat = format!(
            "DO $$\nBEGIN\n{guard}\nEND\n$$;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n"
        );
        check(
            &[
                (
                    "001_jobs.sql",
                    "CREATE TABLE IF NOT EXISTS jobs (id bigserial PRIMARY KEY, chat_id bigint);\n",
                ),
                ("002_chat.sql", &chat),
            ],
            expect![""],
        );
    }
}

// --- non-idempotent-statement ----------------------------------------------

#[test]
fn lint_statements_that_fail_the_second_time() {
    let bad = [
        "CREATE TABLE a (id int);",
        "CREATE INDEX a_id ON a (id);",
        "CREATE INDEX ON a (id);",
        "CREATE SEQUENCE s;",
        "CREATE SCHEMA app;",
        "CREATE VIEW v AS SELECT 1 AS x;",
        "CREATE TYPE mood AS ENUM ('sad', 'happy');",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE EXTENSION pgcrypto;",
        "ALTER TABLE a ADD COLUMN b int;",
        "ALTER TABLE a ADD CONSTRAINT a_b CHECK (b > 0);",
        "ALTER TABLE a RENAME COLUMN b TO c;",
        "ALTER TABLE a RENAME TO a2;",
        "ALTER TABLE a2 DROP COLUMN c;",
        "DROP TABLE a2;",
        "ALTER TYPE mood ADD VALUE 'ok';",
    ];
    check(
        &[("001_bad.sql", &bad.join("\n"))],
        expect![[r#"
            non-idempotent-statement 001_bad.sql:1:1 CREATE TABLE a fails with "relation already exists" when it runs again; write CREATE TABLE IF NOT EXISTS
            non-idempotent-statement 001_bad.sql:2:1 CREATE INDEX a_id fails with "relation already exists" when it runs again; write CREATE INDEX IF NOT EXISTS
            non-idempotent-statement 001_bad.sql:3:1 CREATE INDEX without a name creates one more identical index every time it runs; name it and write CREATE INDEX IF NOT EXISTS
            non-idempotent-statement 001_bad.sql:4:1 CREATE SEQUENCE s fails with "relation already exists" when it runs again; write CREATE SEQUENCE IF NOT EXISTS
            non-idempotent-statement 001_bad.sql:5:1 CREATE SCHEMA app fails with "schema already exists" when it runs again; write CREATE SCHEMA IF NOT EXISTS
            non-idempotent-statement 001_bad.sql:6:1 CREATE VIEW v fails with "relation already exists" when it runs again; write CREATE OR REPLACE VIEW
            non-idempotent-statement 001_bad.sql:7:1 CREATE TYPE mood fails with "type already exists" when it runs again, and has no IF NOT EXISTS; create it in a DO block that checks pg_type first or catches duplicate_object
            non-idempotent-statement 001_bad.sql:8:1 CREATE FUNCTION f fails with "already exists" when it runs again; write CREATE OR REPLACE FUNCTION
            non-idempotent-statement 001_bad.sql:9:1 CREATE EXTENSION pgcrypto fails with "extension already exists" when it runs again; write CREATE EXTENSION IF NOT EXISTS
            non-idempotent-statement 001_bad.sql:10:1 ADD COLUMN b fails with "column already exists" when it runs again; write ADD COLUMN IF NOT EXISTS
            non-idempotent-statement 001_bad.sql:11:1 ADD CONSTRAINT a_b fails with "already exists" when it runs again, and has no IF NOT EXISTS; drop it first with DROP CONSTRAINT IF EXISTS, or add it in a DO block that checks pg_constraint
            non-idempotent-statement 001_bad.sql:12:1 renaming column a.b to c fails when it runs again, because column a.b no longer exists; rename in a DO block that checks the catalog first
            non-idempotent-statement 001_bad.sql:13:1 renaming table a to a2 fails when it runs again, because table a no longer exists; rename in a DO block that checks the catalog first
            non-idempotent-statement 001_bad.sql:14:1 DROP COLUMN c fails with "does not exist" when it runs again; write DROP COLUMN IF EXISTS
            non-idempotent-statement 001_bad.sql:15:1 DROP TABLE a2 fails with "does not exist" when it runs again; write DROP TABLE IF EXISTS
            non-idempotent-statement 001_bad.sql:16:1 ALTER TYPE mood ADD VALUE 'ok' fails with "already exists" when it runs again; write ADD VALUE IF NOT EXISTS
        "#]],
    );
    let good = [
        "CREATE TABLE IF NOT EXISTS a (id int PRIMARY KEY);",
        "CREATE INDEX IF NOT EXISTS a_id ON a (id);",
        "CREATE SEQUENCE IF NOT EXISTS s;",
        "CREATE SCHEMA IF NOT EXISTS app;",
        "CREATE OR REPLACE VIEW v AS SELECT 1 AS x;",
        "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;",
        "ALTER TABLE a ADD COLUMN IF NOT EXISTS b int;",
        "ALTER TABLE a DROP CONSTRAINT IF EXISTS a_b, ADD CONSTRAINT a_b CHECK (b > 0);",
        "ALTER TABLE a DROP CONSTRAINT IF EXISTS a_c;",
        "ALTER TABLE a ADD CONSTRAINT a_c CHECK (b < 10);",
        "ALTER TABLE IF EXISTS a RENAME TO a2;",
        "ALTER TABLE a2 DROP COLUMN IF EXISTS c;",
        "DROP VIEW IF EXISTS w;",
        "CREATE VIEW w AS SELECT 2 AS y;",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN CREATE TYPE mood AS ENUM ('sad'); END IF; END $$;",
        "DO $$ BEGIN ALTER TABLE a2 ADD CONSTRAINT a_d UNIQUE (id); EXCEPTION WHEN duplicate_object OR duplicate_table THEN NULL; END $$;",
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ok';",
        "DROP TABLE IF EXISTS a2;",
    ];
    check(&[("001_good.sql", &good.join("\n"))], expect![""]);
    // Unguarded inside a DO block: located at the inner statement.
    check(
        &[(
            "001_type.sql",
            "DO $$\nBEGIN\n    CREATE TYPE mood AS ENUM ('sad');\nEND\n$$;\n",
        )],
        expect![[r#"
            non-idempotent-statement 001_type.sql:3:5 CREATE TYPE mood fails with "type already exists" when it runs again, and has no IF NOT EXISTS; create it in a DO block that checks pg_type first or catches duplicate_object
        "#]],
    );
    check(
        &borrowed(&scenario("err/add-column-twice")),
        expect![[r#"
            non-idempotent-statement 002_account_email.sql:3:1 ADD COLUMN email fails with "column already exists" when it runs again; write ADD COLUMN IF NOT EXISTS
        "#]],
    );
    check(&borrowed(&scenario("ok/add-column-twice")), expect![""]);
}

// --- tx-incompatible ---------------------------------------------------------

#[test]
fn lint_statements_that_refuse_a_transaction() {
    // golang-migrate runs every file in one (implicit) transaction.
    check(
        &[(
            "1_index.up.sql",
            "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\nVACUUM t;\nANALYZE t;\nDROP INDEX CONCURRENTLY IF EXISTS t_id;\n",
        )],
        expect![[r#"
            tx-incompatible 1_index.up.sql:2:1 CREATE INDEX CONCURRENTLY cannot run inside a transaction block, and 1_index.up.sql runs in one; move it into a migration of its own that the runner applies without a transaction
            tx-incompatible 1_index.up.sql:3:1 VACUUM cannot run inside a transaction block, and 1_index.up.sql runs in one; move it into a migration of its own that the runner applies without a transaction
            tx-incompatible 1_index.up.sql:5:1 DROP INDEX CONCURRENTLY cannot run inside a transaction block, and 1_index.up.sql runs in one; move it into a migration of its own that the runner applies without a transaction
        "#]],
    );
    // A plain file holding such a statement runs without a transaction,
    // the way psql runs it (`Migration::transaction` is false).
    check(
        &[(
            "001_index.sql",
            "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\n",
        )],
        expect![""],
    );
    // The layout says no transaction (sqlx's marker).
    check(
        &[
            (
                "001_t.sql",
                "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);\n",
            ),
            (
                "002_index.sql",
                "-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\n",
            ),
        ],
        expect![""],
    );
    // A file with its own BEGIN/COMMIT: only what is between them counts.
    check(
        &[(
            "001_t.sql",
            "BEGIN;\nCREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (id);\nCOMMIT;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_b ON t (id);\n",
        )],
        expect![[r#"
            tx-incompatible 001_t.sql:3:1 CREATE INDEX CONCURRENTLY cannot run inside a transaction block, and 001_t.sql runs in one; move it into a migration of its own that the runner applies without a transaction
        "#]],
    );
    // A DO block always runs in a transaction.
    check(
        &[
            (
                "001_t.sql",
                "-- no-transaction\nCREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);\n",
            ),
            (
                "002_t.sql",
                "-- no-transaction\nDO $$\nBEGIN\n    CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\nEND\n$$;\n",
            ),
        ],
        expect![[r#"
            tx-incompatible 002_t.sql:4:5 CREATE INDEX CONCURRENTLY cannot run inside a DO block, whose body always runs in a transaction; move it out of the DO block into a migration that runs without a transaction
        "#]],
    );
}

#[test]
fn lint_new_enum_values_used_in_the_same_transaction() {
    let create = "DO $$ BEGIN CREATE TYPE state AS ENUM ('new'); EXCEPTION WHEN duplicate_object THEN NULL; END $$;\nCREATE TABLE IF NOT EXISTS jobs (id int PRIMARY KEY, state state NOT NULL DEFAULT 'new');\n";
    check(
        &[
            ("001_jobs.sql", create),
            (
                "002_done.sql",
                "ALTER TYPE state ADD VALUE IF NOT EXISTS 'done';\nUPDATE jobs SET state = 'done' WHERE id < 0;\n",
            ),
        ],
        expect![[r#"
            index-before-column 002_done.sql:2:17 column jobs.state is only created conditionally at 001_jobs.sql:2:54 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists, and an older jobs lacks it if it was added after the table's first version, as NOT NULL columns with a default can be); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS state ...` before using it
            tx-incompatible 002_done.sql:2:25 'done' is added to type state at 002_done.sql:1:1 in the same transaction; PostgreSQL refuses to use a new enum value before the transaction that added it commits ("unsafe use of new value"); use it in a later migration
        "#]],
    );
    check(
        &[
            ("001_jobs.sql", create),
            (
                "002_done.sql",
                "ALTER TYPE state ADD VALUE IF NOT EXISTS 'done';\n",
            ),
            (
                "003_use.sql",
                "UPDATE jobs SET state = 'done' WHERE id < 0;\n",
            ),
        ],
        expect![[r#"
            index-before-column 003_use.sql:1:17 column jobs.state is only created conditionally at 001_jobs.sql:2:54 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists, and an older jobs lacks it if it was added after the table's first version, as NOT NULL columns with a default can be); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS state ...` before using it
        "#]],
    );
}

// --- suppression -------------------------------------------------------------

#[test]
fn lint_suppression_comments() {
    // Above the statement, on its line, or above the DO block around it.
    check(
        &[(
            "001_a.sql",
            "-- migcheck:ignore non-idempotent-statement the runner tracks versions\n-- (and has since 2019)\nCREATE TABLE a (id int);\nCREATE INDEX a_id ON a (id); -- migcheck:ignore non-idempotent-statement tracked runner\n-- migcheck:ignore non-idempotent-statement tracked runner\nDO $$\nBEGIN\n    CREATE TYPE mood AS ENUM ('sad');\nEND\n$$;\n",
        )],
        expect![""],
    );
    // Another kind, a blank line in between, or a directive above another
    // statement of the same DO block do not suppress.
    check(
        &[(
            "001_a.sql",
            "-- migcheck:ignore tx-incompatible not this kind\nCREATE TABLE a (id int);\n-- migcheck:ignore non-idempotent-statement too far away\n\nCREATE TABLE b (id int);\nDO $$\nBEGIN\n    -- migcheck:ignore non-idempotent-statement only this one\n    CREATE TYPE mood AS ENUM ('sad');\n    CREATE TYPE colour AS ENUM ('red');\nEND\n$$;\n",
        )],
        expect![[r#"
            non-idempotent-statement 001_a.sql:2:1 CREATE TABLE a fails with "relation already exists" when it runs again; write CREATE TABLE IF NOT EXISTS
            non-idempotent-statement 001_a.sql:5:1 CREATE TABLE b fails with "relation already exists" when it runs again; write CREATE TABLE IF NOT EXISTS
            non-idempotent-statement 001_a.sql:10:5 CREATE TYPE colour fails with "type already exists" when it runs again, and has no IF NOT EXISTS; create it in a DO block that checks pg_type first or catches duplicate_object
        "#]],
    );
    check(
        &borrowed(&[
            (
                "001_users.sql".to_string(),
                scenario("err/jobs-before-chat-id")[0].1.clone(),
            ),
            (
                "002_jobs.sql".to_string(),
                scenario("err/jobs-before-chat-id")[1].1.replace(
                    "CREATE INDEX IF NOT EXISTS idx_jobs_chat_id",
                    "-- migcheck:ignore index-before-column every database has chat_id since 2023\nCREATE INDEX IF NOT EXISTS idx_jobs_chat_id",
                ),
            ),
        ]),
        expect![""],
    );
}

#[test]
fn lint_malformed_suppressions_are_errors() {
    check(
        &[(
            "001_a.sql",
            "SELECT 1;\n-- migcheck:ignore index-before-column\nCREATE INDEX IF NOT EXISTS i ON t (c);\n",
        )],
        expect![[r#"
            error 001_a.sql:2: `-- migcheck: ignore index-before-column` needs a reason after the kind, so that the next reader knows why, like `-- migcheck: ignore blocking-index-build: the table holds 40 rows`
        "#]],
    );
    check(
        &[(
            "001_a.sql",
            "CREATE TABLE IF NOT EXISTS t (c int); -- migcheck:ignore rerun-failed old runner\n",
        )],
        expect![[r#"
            error 001_a.sql:1: `-- migcheck: ignore rerun-failed`: only lint and locks findings can be ignored here (index-before-column, non-idempotent-statement, tx-incompatible, table-rewrite, long-exclusive-lock, blocking-index-build, blocking-constraint-index, blocking-validation, missing-lock-timeout, unindexed-foreign-key); write it like `-- migcheck: ignore blocking-index-build: the table holds 40 rows`
        "#]],
    );
    check(
        &[("001_a.sql", "--migcheck:ignore\nSELECT 1;\n")],
        expect![[r#"
            error 001_a.sql:1: `-- migcheck: ignore` needs a kind and a reason, like `-- migcheck: ignore blocking-index-build: the table holds 40 rows`
        "#]],
    );
}
