//! The CI reports read back the way CI reads them: JUnit XML with an XML
//! parser, SARIF as JSON, GitHub annotations and the markdown summary as
//! text, all from one run with several `--format`/`--output` pairs.

mod common;

use std::path::Path;

use common::{assert_nothing_left, migcheck, private_tmp, write};

const TWICE: &[u8] = b"-- accounts\nCREATE TABLE IF NOT EXISTS accounts (id int);\n\nALTER TABLE accounts ADD COLUMN email text;\n";

/// Two scenarios: `ok` has no finding, `twice` fails its rerun at
/// 001_accounts.sql line 4.
fn scenarios(dir: &Path) {
    write(
        dir,
        &[
            ("s/ok.yaml", b"name: fine\nmigrations: ok\n"),
            (
                "s/ok/001_init.sql",
                b"CREATE TABLE IF NOT EXISTS t (id int);\n",
            ),
            ("s/twice.yaml", b"name: added twice\nmigrations: twice\n"),
            ("s/twice/001_accounts.sql", TWICE),
        ],
    );
}

#[test]
fn one_run_writes_junit_sarif_markdown_and_github_annotations() {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-reports-")
        .tempdir()
        .expect("temp dir");
    scenarios(input.path());
    let out = |name: &str| input.path().join(name).display().to_string();
    let (junit, sarif, markdown) = (out("r.xml"), out("r.sarif"), out("r.md"));
    let output = migcheck(
        tmp.path(),
        &[
            "verify",
            &out("s"),
            "--format",
            "junit",
            "--output",
            &junit,
            "--format",
            "sarif",
            "--output",
            &sarif,
            "--format",
            "markdown",
            "--output",
            &markdown,
            "--format",
            "github",
        ],
    )
    .output()
    .expect("run migcheck");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a rerun-failed finding fails the run\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_nothing_left(tmp.path());
    let file = input.path().join("s/twice/001_accounts.sql");
    let file = file
        .canonicalize()
        .expect("canonical")
        .display()
        .to_string();

    // JUnit: a suite per scenario and version, a testcase per check, the
    // rerun testcase failing with the finding's kind and place.
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).expect("junit is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2, "{xml}");
    let cases: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(
        root.attribute("tests"),
        Some(cases.len().to_string().as_str())
    );
    assert_eq!(cases.len(), 18, "9 checks × 2 scenarios:\n{xml}");
    let failures: Vec<_> = cases
        .iter()
        .filter_map(|c| {
            c.children()
                .find(|n| n.has_tag_name("failure"))
                .map(|f| (c, f))
        })
        .collect();
    assert_eq!(failures.len(), 1, "{xml}");
    let (case, failure) = failures[0];
    assert_eq!(case.attribute("name"), Some("rerun"));
    assert!(
        case.attribute("classname")
            .is_some_and(|c| c.starts_with("twice (postgres "))
    );
    assert_eq!(failure.attribute("type"), Some("rerun-failed"));
    let text = failure.text().unwrap_or_default();
    assert!(
        text.contains(&format!("{file}:4:1")) && text.contains("\"email\""),
        "failure text: {text}"
    );
    assert_eq!(root.attribute("failures"), Some("1"));

    // SARIF 2.1.0: the rerun failure as an error at line 4 of the file.
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).expect("sarif written"))
            .expect("sarif is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "migcheck");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    let rerun = results
        .iter()
        .find(|r| r["ruleId"] == "rerun-failed")
        .expect("a rerun-failed result");
    assert_eq!(rerun["level"], "error");
    let index = rerun["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(rules[index]["id"], "rerun-failed");
    let location = &rerun["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], file.as_str());
    assert_eq!(location["region"]["startLine"], 4);
    assert_eq!(location["region"]["startColumn"], 1);
    for result in results {
        let uri = &result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        if let Some(uri) = uri.as_str() {
            assert!(
                Path::new(uri).is_file(),
                "SARIF names a file that is not there: {uri}"
            );
        }
    }

    // GitHub annotations on stdout, the summary in markdown.
    assert!(
        stdout.lines().any(|l| l.starts_with(&format!(
            "::error file={},line=4,col=1,title=migcheck rerun-failed%3A twice",
            file.replace(':', "%3A")
        ))),
        "github annotations:\n{stdout}"
    );
    let md = std::fs::read_to_string(&markdown).expect("markdown written");
    assert!(md.starts_with("## ❌ migcheck: 1 failing finding"), "{md}");
    assert!(md.contains("| twice | "), "{md}");
    assert!(
        md.contains(&format!("**rerun-failed** `{file}:4:1`")),
        "{md}"
    );
}

#[test]
fn formats_and_outputs_must_pair() {
    let tmp = private_tmp();
    let output = migcheck(
        tmp.path(),
        &[
            "lint",
            "--migrations",
            "scenarios/ok",
            "--format",
            "json",
            "--format",
            "sarif",
        ],
    )
    .output()
    .expect("run migcheck");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("2 --format but 0 --output: only one report can go to standard output"),
        "{stderr}"
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn progress_shows_when_asked_and_stays_quiet_in_ci_logs() {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-reports-")
        .tempdir()
        .expect("temp dir");
    scenarios(input.path());
    let dir = input.path().join("s").display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["verify", dir.as_str(), "--format", "json"];
        args.extend_from_slice(extra);
        let output = migcheck(tmp.path(), &args).output().expect("run migcheck");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let asked = run(&["--progress"]);
    let lines: Vec<&str> = asked.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 2, "{asked}");
    assert!(lines[0].starts_with("[1/2] ok (postgres "), "{asked}");
    assert!(lines[1].starts_with("[2/2] twice (postgres "), "{asked}");
    // stderr is a pipe here, as in a CI log: nothing unless asked.
    let quiet = run(&[]);
    assert!(!quiet.contains("[1/2]"), "{quiet}");
    assert_nothing_left(tmp.path());
}

/// A check that could not run says so, and why, in every report: never a
/// pass. Here the fresh install fails, so nothing else that needs an
/// installed set ran.
#[test]
fn checks_that_could_not_run_say_not_run_and_why() {
    let tmp = private_tmp();
    let input = tempfile::Builder::new()
        .prefix("migcheck-reports-")
        .tempdir()
        .expect("temp dir");
    write(
        input.path(),
        &[
            ("s/broken.yaml", b"name: broken\nmigrations: broken\n"),
            (
                "s/broken/001_init.sql",
                b"CREATE TABLE t (id int REFERENCES nowhere);\n",
            ),
        ],
    );
    let out = |name: &str| input.path().join(name).display().to_string();
    let (junit, json, markdown) = (out("r.xml"), out("r.json"), out("r.md"));
    let output = migcheck(
        tmp.path(),
        &[
            "verify",
            &out("s"),
            "--format",
            "junit",
            "--output",
            &junit,
            "--format",
            "json",
            "--output",
            &json,
            "--format",
            "markdown",
            "--output",
            &markdown,
            "--format",
            "human",
        ],
    )
    .output()
    .expect("run migcheck");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_nothing_left(tmp.path());
    let not_run = [
        "rerun", "converge", "expect", "merge", "rollback", "faults", "locks",
    ];
    for check in not_run {
        assert!(
            stdout.contains(&format!("– {check} (not run: the fresh install fails)")),
            "{stdout}"
        );
        assert!(!stdout.contains(&format!("✓ {check}")), "{stdout}");
    }
    assert!(stdout.contains("✗ fresh"), "{stdout}");

    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).expect("junit is well-formed XML");
    let skipped: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter_map(|c| {
            let skipped = c.children().find(|n| n.has_tag_name("skipped"))?;
            Some((c.attribute("name")?, skipped.attribute("message")?))
        })
        .collect();
    let expected: Vec<(&str, &str)> = not_run
        .iter()
        .map(|c| (*c, "not run: the fresh install fails"))
        .collect();
    assert_eq!(skipped, expected, "{xml}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("json");
    let listed: Vec<&str> = report["scenarios"][0]["not_run"]
        .as_array()
        .expect("not_run")
        .iter()
        .map(|n| n["check"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(listed, not_run, "{report}");
    let md = std::fs::read_to_string(&markdown).expect("markdown written");
    assert!(
        md.contains("rollback (not run: the fresh install fails)"),
        "{md}"
    );
}
