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
    let output = migcheck(tmp, &args).output().expect("run migcheck");
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
