//! `verify --changed-since REV`: only the scenarios whose file or
//! migrations changed since REV run, and the migrations the branch added
//! get the merge-order check.

mod common;

use common::{assert_nothing_left, git, migcheck, private_tmp, write};

#[test]
fn verify_changed_since_runs_only_what_the_branch_touched() {
    let tmp = private_tmp();
    let repo = tempfile::Builder::new()
        .prefix("migcheck-changed-")
        .tempdir()
        .expect("temp dir");
    let ok = b"CREATE TABLE IF NOT EXISTS t (id int);\n" as &[u8];
    write(
        repo.path(),
        &[
            ("s/a.yaml", b"migrations: a\n"),
            ("s/a/001_a.sql", ok),
            ("s/b.yaml", b"migrations: b\n"),
            ("s/b/001_b.sql", ok),
            ("s/b/003_b.sql", ok),
        ],
    );
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "base"]);
    git(repo.path(), &["tag", "base"]);
    // The branch adds a migration to b (untracked: not even committed
    // yet) that sorts before one already there.
    write(
        repo.path(),
        &[("s/b/002_b.sql", b"CREATE TABLE IF NOT EXISTS u (id int);\n")],
    );
    let s = repo.path().join("s").display().to_string();
    let verify = |extra: &[&str]| -> Vec<(String, u64)> {
        let mut args = vec!["verify", s.as_str(), "--format", "json"];
        args.extend_from_slice(extra);
        let output = migcheck(tmp.path(), &args).output().expect("run migcheck");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        json["scenarios"]
            .as_array()
            .expect("scenarios")
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap_or("").to_owned(),
                    s["cases"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let branch = verify(&["--changed-since", "base"]);
    let all = verify(&[]);
    assert_eq!(branch.len(), 1, "{branch:?}");
    assert_eq!(branch[0].0, "b");
    // One more case: 002 deployed after 003, the other merge order.
    let b = all
        .iter()
        .find(|(id, _)| id == "b")
        .expect("b in a full run");
    assert_eq!(branch[0].1, b.1 + 1, "branch {branch:?}, all {all:?}");
    // Nothing touched since HEAD once committed: nothing runs, no server.
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "branch"]);
    let output = migcheck(tmp.path(), &["verify", &s, "--changed-since", "HEAD"])
        .output()
        .expect("run migcheck");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no scenario changed since HEAD"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_nothing_left(tmp.path());
}
