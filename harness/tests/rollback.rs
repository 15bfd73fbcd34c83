//! `check --checks rollback` end to end: the walk goes on past a down that
//! fails, in either sandbox, and `--changed-since` limits it to the downs
//! of the migrations the branch adds or changes.

mod common;

use std::path::Path;

use common::{assert_nothing_left, git, migcheck, private_tmp, write};

/// Three golang-migrate migrations: the down of the second fails (it
/// names an index that does not exist), the down of the third leaves its
/// enum type behind, so the third cannot be applied again.
const SET: &[(&str, &[u8])] = &[
    (
        "m/1_accounts.up.sql",
        b"CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n",
    ),
    ("m/1_accounts.down.sql", b"DROP TABLE accounts;\n"),
    (
        "m/2_accounts_email.up.sql",
        b"CREATE INDEX accounts_email ON accounts (email);\n",
    ),
    (
        "m/2_accounts_email.down.sql",
        b"DROP INDEX accounts_by_email;\n",
    ),
];
const THIRD: &[(&str, &[u8])] = &[
    (
        "m/3_tickets.up.sql",
        b"CREATE TYPE ticket_state AS ENUM ('open', 'closed');\nCREATE TABLE tickets (id bigint PRIMARY KEY, state ticket_state);\n",
    ),
    ("m/3_tickets.down.sql", b"DROP TABLE tickets;\n"),
];

/// `migcheck check --checks rollback` on `dir/m` with `extra` arguments:
/// its findings as (kind, migration), and its notes.
fn rollback(tmp: &Path, dir: &Path, extra: &[&str]) -> (Vec<(String, String)>, Vec<String>) {
    rollback_with(tmp, dir, extra, &[])
}

/// [`rollback`] with `env` set for migcheck.
fn rollback_with(
    tmp: &Path,
    dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Vec<(String, String)>, Vec<String>) {
    let m = dir.join("m").display().to_string();
    let mut args = vec![
        "check",
        "--migrations",
        &m,
        "--checks",
        "rollback",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = migcheck(tmp, &args)
        .envs(env.iter().copied())
        .output()
        .expect("run migcheck");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let findings = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (text(&f["kind"]), text(&f["migration"])))
        .collect();
    let notes = json["scenarios"][0]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(text)
        .collect();
    (findings, notes)
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, m)| (k.to_string(), m.to_string()))
        .collect()
}

#[test]
fn a_failing_down_does_not_end_the_walk_in_either_sandbox() {
    let tmp = private_tmp();
    let dir = tempfile::Builder::new()
        .prefix("migcheck-rollback-")
        .tempdir()
        .expect("temp dir");
    write(dir.path(), SET);
    write(dir.path(), THIRD);
    let expected = pairs(&[
        ("down-failed", "2_accounts_email.down.sql"),
        ("down-not-inverse", "3_tickets.down.sql"),
        ("reup-failed", "3_tickets.up.sql"),
    ]);
    for sandbox in ["transaction", "template"] {
        let (findings, notes) = rollback(tmp.path(), dir.path(), &["--sandbox", sandbox]);
        assert_eq!(findings, expected, "--sandbox {sandbox}; notes: {notes:?}");
        assert!(
            notes.iter().all(|n| !n.contains("stopped early")),
            "--sandbox {sandbox}: {notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("rollback: 3 migrations rolled back")),
            "--sandbox {sandbox}: {notes:?}"
        );
    }
    assert_nothing_left(tmp.path());
}

#[test]
fn with_changed_since_only_the_branchs_downs_are_judged() {
    let tmp = private_tmp();
    let repo = tempfile::Builder::new()
        .prefix("migcheck-rollback-git-")
        .tempdir()
        .expect("temp dir");
    // Deployed: the first two, the second with a down that fails.
    write(repo.path(), SET);
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "base"]);
    git(repo.path(), &["tag", "base"]);
    // The branch adds the third.
    write(repo.path(), THIRD);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "tickets"]);

    let (findings, notes) = rollback(tmp.path(), repo.path(), &["--changed-since", "base"]);
    assert_eq!(
        findings,
        pairs(&[
            ("down-not-inverse", "3_tickets.down.sql"),
            ("reup-failed", "3_tickets.up.sql"),
        ]),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n
            == "rollback: judged the downs of what the branch adds or changes since base: 3_tickets.up.sql"),
        "{notes:?}"
    );
    // Without it, the history audit: every down.
    let (all, _) = rollback(tmp.path(), repo.path(), &[]);
    assert!(
        all.contains(&(
            "down-failed".to_string(),
            "2_accounts_email.down.sql".to_string()
        )),
        "{all:?}"
    );
    assert_nothing_left(tmp.path());
}

/// Steps whose DDL changes what other relations print (a renamed column
/// in a view and a foreign key, a renamed type, schema and function),
/// DDL no statement names (dynamic SQL in `DO`), rows written through a
/// function, a partition attached and detached, `TRUNCATE` and cascades:
/// every kind of change a read of only what a step touched could miss.
const TOUCHES: &[(&str, &[u8])] = &[
    (
        "m/1_app.up.sql",
        b"CREATE SCHEMA app;\nCREATE TYPE app.mood AS ENUM ('calm', 'busy');\nCREATE TABLE app.t (id serial PRIMARY KEY, m app.mood, note text);\n",
    ),
    ("m/1_app.down.sql", b"DROP SCHEMA app CASCADE;\n"),
    (
        "m/2_view.up.sql",
        b"CREATE VIEW notes AS SELECT id, note FROM app.t;\nCREATE TABLE child (id int PRIMARY KEY, t_id int REFERENCES app.t (id), n int DEFAULT 0);\n",
    ),
    ("m/2_view.down.sql", b"DROP VIEW notes;\nDROP TABLE child;\n"),
    (
        "m/3_rename.up.sql",
        b"ALTER TABLE app.t RENAME COLUMN note TO body;\nALTER TABLE app.t RENAME TO tt;\nALTER TYPE app.mood RENAME TO feeling;\n",
    ),
    (
        "m/3_rename.down.sql",
        b"ALTER TYPE app.feeling RENAME TO mood;\nALTER TABLE app.tt RENAME TO t;\nALTER TABLE app.t RENAME COLUMN body TO note;\n",
    ),
    (
        "m/4_dynamic.up.sql",
        b"DO $$ BEGIN EXECUTE 'CREATE INDEX tt_body ON app.tt (body)'; END $$;\nCOMMENT ON COLUMN app.tt.body IS 'what was said';\n",
    ),
    (
        "m/4_dynamic.down.sql",
        b"DROP INDEX app.tt_body;\nCOMMENT ON COLUMN app.tt.body IS NULL;\n",
    ),
    (
        "m/5_writes.up.sql",
        b"CREATE TABLE p (id int, k int) PARTITION BY RANGE (k);\nCREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);\nINSERT INTO p VALUES (1, 1);\nCREATE FUNCTION bump() RETURNS void LANGUAGE sql AS 'UPDATE child SET n = n + 1; UPDATE p SET k = 2';\nSELECT bump();\n",
    ),
    (
        "m/5_writes.down.sql",
        b"DROP FUNCTION bump();\nDROP TABLE p;\nUPDATE child SET n = n - 1;\n",
    ),
    ("m/6_truncate.up.sql", b"TRUNCATE child;\n"),
    ("m/6_truncate.down.sql", b"SELECT 1;\n"),
    (
        "m/7_schema.up.sql",
        b"ALTER SCHEMA app RENAME TO app2;\nCREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\nCREATE TRIGGER child_stamp BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION stamp();\nALTER FUNCTION stamp() RENAME TO stamped;\n",
    ),
    (
        "m/7_schema.down.sql",
        b"DROP TRIGGER child_stamp ON child;\nDROP FUNCTION stamped();\nALTER SCHEMA app2 RENAME TO app;\n",
    ),
    (
        "m/8_cascade.up.sql",
        b"DROP TABLE app2.tt CASCADE;\nALTER TABLE child DROP COLUMN n;\nALTER TABLE p DETACH PARTITION p1;\n",
    ),
    (
        "m/8_cascade.down.sql",
        b"ALTER TABLE p ATTACH PARTITION p1 FOR VALUES FROM (0) TO (100);\nCREATE TABLE app2.tt (id serial PRIMARY KEY, m app2.feeling, body text);\nALTER TABLE child ADD COLUMN n int DEFAULT 0;\n",
    ),
];

#[test]
fn reading_only_what_a_step_touched_misses_nothing() {
    let tmp = private_tmp();
    let dir = tempfile::Builder::new()
        .prefix("migcheck-rollback-touches-")
        .tempdir()
        .expect("temp dir");
    write(dir.path(), TOUCHES);
    for sandbox in ["transaction", "template"] {
        // Every partial read is checked against a whole one: a change it
        // missed ends the run with exit 2 and says where.
        let (_, notes) = rollback_with(
            tmp.path(),
            dir.path(),
            &["--sandbox", sandbox],
            &[("MIGCHECK_VERIFY_TRACKING", "1")],
        );
        // Partial reads happened: the check above compared something.
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("rollback: after 8 of 8 ups, only")),
            "--sandbox {sandbox}: {notes:?}"
        );
    }
    assert_nothing_left(tmp.path());
}
