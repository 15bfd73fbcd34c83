//! `--keep-failed`: the failing case's database stays on a running server,
//! psql connects with the printed command and sees the state the case
//! left, and the printed removal leaves nothing behind.

mod common;

use std::path::Path;
use std::process::Command;

use common::{assert_nothing_left, migcheck, private_tmp, write};

/// Runs migcheck with `args` (which keep a failing case), connects to the
/// kept database with the printed psql command, returns what `query`
/// prints there, and removes the server as printed. `kept` is the note's
/// start, e.g. "kept: the database of this failing case (rerun-failed)".
fn check(args: &[&str], kept: &str, query: &str) -> String {
    let tmp = private_tmp();
    let output = migcheck(tmp.path(), args).output().expect("run migcheck");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let after = |prefix: &str| -> String {
        stderr
            .lines()
            .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_owned()))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{stderr}"))
    };
    let psql = after(&format!("{kept}: "));
    let remove = after("kept: the server stays up; remove it with: ");
    // The JSON report carries the same notes.
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        json["scenarios"][0]["notes"].to_string().contains("kept: "),
        "{json}"
    );
    let queried = Command::new("sh")
        .arg("-c")
        .arg(format!("{psql} -At -c \"{query}\""))
        .output()
        .expect("run psql");
    let removed = Command::new("sh")
        .arg("-c")
        .arg(&remove)
        .status()
        .expect("remove");
    assert!(removed.success(), "{remove}");
    assert_nothing_left(tmp.path());
    let answer = String::from_utf8_lossy(&queried.stdout).trim().to_owned();
    assert!(
        !answer.is_empty(),
        "psql answered nothing: {}",
        String::from_utf8_lossy(&queried.stderr)
    );
    answer
}

fn columns(table: &str) -> String {
    format!(
        "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0"
    )
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn keep_failed_leaves_a_database_to_connect_to_and_says_how_to_remove_it() {
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
    let m = path(&input.path().join("m"));
    let args = [
        "check",
        "--migrations",
        &m,
        "--checks",
        "fresh,rerun",
        "--keep-failed",
        "--format",
        "json",
    ];
    let kept = "kept: the database of this failing case (rerun-failed)";
    assert_eq!(
        check(&args, kept, &columns("accounts")),
        "id,email",
        "the kept database holds what the first run left"
    );
}

#[test]
fn a_kept_upgrade_from_an_earlier_version_starts_from_that_version() {
    let input = tempfile::Builder::new()
        .prefix("migcheck-keep-")
        .tempdir()
        .expect("temp dir");
    write(
        input.path(),
        &[
            (
                "v1/001_orders.sql",
                b"CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, total bigint NOT NULL);\n",
            ),
            (
                "m/001_orders.sql",
                b"CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, total bigint NOT NULL, currency text NOT NULL DEFAULT 'EUR');\nCREATE INDEX IF NOT EXISTS orders_currency ON orders (currency);\n",
            ),
            (
                "s.yaml",
                b"migrations: m\ngit_history: 0\nlegacy:\n  - name: deployed at v1\n    migrations: v1\n",
            ),
        ],
    );
    let s = path(&input.path().join("s.yaml"));
    let args = ["verify", &s, "--keep-failed", "--format", "json"];
    let kept = "kept: the database of this failing case (legacy-apply-failed from legacy state \"deployed at v1\")";
    assert_eq!(
        check(&args, kept, &columns("orders")),
        "id,total",
        "the kept database is v1's, where today's index failed"
    );
}
