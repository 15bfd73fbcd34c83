//! `--keep-failed`: the failing case's database stays on a running server,
//! psql connects with the printed command and sees the state the case
//! left, and the printed removal leaves nothing behind.

mod common;

use std::process::Command;

use common::{assert_nothing_left, migcheck, private_tmp, write};

#[test]
fn keep_failed_leaves_a_database_to_connect_to_and_says_how_to_remove_it() {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-keep-")
        .tempdir()
        .expect("temp dir");
    write(
        input.path(),
        &[(
            "m/001_a.sql",
            b"CREATE TABLE IF NOT EXISTS accounts (id int);\nALTER TABLE accounts ADD COLUMN email text;\n",
        )],
    );
    let m = input.path().join("m").display().to_string();
    let output = migcheck(
        tmp.path(),
        &[
            "check",
            "--migrations",
            &m,
            "--checks",
            "fresh,rerun",
            "--keep-failed",
            "--format",
            "json",
        ],
    )
    .output()
    .expect("run migcheck");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let after = |prefix: &str| -> String {
        stderr
            .lines()
            .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_owned()))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{stderr}"))
    };
    let psql = after("kept: the database of this failing case (rerun-failed): ");
    let remove = after("kept: the server stays up; remove it with: ");
    // The JSON report carries the same notes.
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        json["scenarios"][0]["notes"].to_string().contains("kept: "),
        "{json}"
    );

    let query = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{psql} -At -c \"SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attnum > 0\""
        ))
        .output()
        .expect("run psql");
    let removed = Command::new("sh")
        .arg("-c")
        .arg(&remove)
        .status()
        .expect("remove");
    assert!(removed.success(), "{remove}");
    assert_eq!(
        String::from_utf8_lossy(&query.stdout).trim(),
        "id,email",
        "the kept database holds what the first run left: {}",
        String::from_utf8_lossy(&query.stderr)
    );
    assert_nothing_left(tmp.path());
}
