//! `migcheck bench` end to end: bad input is exit 2 with a message saying
//! what to do, a run on the bundled scenario renders markdown, JSON and a
//! chart, and exits 1 on its findings; nothing is left behind.

mod common;

use common::{assert_nothing_left, migcheck, private_tmp};

const SCENARIO: &str = "scenarios/bench/large-table/migrations";

fn check(args: &[&str], code: i32, expected: &str) -> String {
    let tmp = private_tmp();
    let output = migcheck(tmp.path(), args).output().expect("run migcheck");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "migcheck {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains(expected) || stderr.contains(expected),
        "migcheck {args:?} should say:\n{expected}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "migcheck panicked:\n{stderr}");
    assert_nothing_left(tmp.path());
    stdout
}

#[test]
fn bad_input_is_exit_2_with_what_to_do() {
    check(
        &["bench", "--migrations", "no/such/dir"],
        2,
        "--migrations no/such/dir: no such directory",
    );
    check(
        &["bench", "--migrations", SCENARIO, "--rows", "lots"],
        2,
        "`lots` is not a row count; write e.g. 10000, 10k or 1M",
    );
    check(
        &["bench", "--migrations", SCENARIO, "--lock-budget", "soon"],
        2,
        "`soon` is not a duration",
    );
    check(
        &["bench", "--migrations", SCENARIO, "--bench-from", "042"],
        2,
        "--bench-from 042: no such migration; the set has: 001, 002, 003, 004, 005",
    );
}

#[test]
fn markdown_json_and_chart_of_the_large_table_scenario() {
    let chart = tempfile::Builder::new()
        .prefix("migcheck-clitest-chart-")
        .suffix(".svg")
        .tempfile()
        .expect("temp file");
    let chart_path = chart.path().display().to_string();
    let common = [
        "bench",
        "--migrations",
        SCENARIO,
        "--bench-from",
        "002",
        "--rows",
        "200,1000",
        "--rewrite-threshold",
        "0",
    ];
    let markdown = check(
        &[
            &common[..],
            &["--format", "markdown", "--chart", &chart_path],
        ]
        .concat(),
        1,
        "### migcheck bench: `large-table`",
    );
    let token = markdown
        .lines()
        .find(|l| l.contains("| 003_add_token.sql |") && l.contains("| 1000 |"))
        .expect("a row for the volatile default at 1000 rows");
    assert!(token.contains("**yes**"), "rewrite not shown: {token}");
    assert!(markdown.contains("**table-rewrite**"), "{markdown}");
    let svg = std::fs::read_to_string(chart.path()).expect("the chart");
    assert!(svg.starts_with("<svg") && svg.contains("CREATE INDEX CONCURRENTLY"));

    let json = check(
        &[&common[..], &["--format", "json"]].concat(),
        1,
        "\"bench\"",
    );
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON report");
    assert_eq!(report["ok"], false);
    let rewrites: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "table-rewrite")
        .map(|f| &f["migration"])
        .collect();
    assert_eq!(rewrites, ["003_add_token.sql"]);
    assert_eq!(report["bench"]["runs"].as_array().map(Vec::len), Some(8));
}
