//! `migcheck fuzz` end to end on a real server: it finds the bundled
//! jobs-without-chat_id failure, shrinks it, and the scenario it emits
//! fails `verify` the same way; the fixed set gives nothing; a seed gives
//! the same cases whatever `-j`, and shards split them; bad arguments exit 2.
//! Every run gets a private TMPDIR, so "nothing left" is exact.

mod common;

use std::path::Path;
use std::process::Output;

use common::{assert_nothing_left, interrupt, migcheck, private_tmp, workspace};
use serde_json::Value;

fn run(tmp: &Path, args: &[&str]) -> (Output, Value) {
    let output = migcheck(tmp, args).output().expect("run migcheck");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "migcheck {args:?}: stdout is not JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, report)
}

fn set(name: &str) -> String {
    workspace()
        .join("scenarios")
        .join(name)
        .display()
        .to_string()
}

fn findings(report: &Value) -> Vec<Value> {
    report["findings"].as_array().cloned().unwrap_or_default()
}

#[test]
fn fuzzing_the_jobs_set_finds_the_failure_and_emits_a_scenario_verify_fails_on() {
    let tmp = private_tmp();
    // What --emit writes is output, not a leftover: kept apart from TMPDIR.
    let out = tempfile::Builder::new()
        .prefix("migcheck-fuzztest-emit-")
        .tempdir()
        .expect("temp dir");
    let emit = out.path().join("found");
    let emit_arg = emit.display().to_string();
    let migrations = set("err/jobs-before-chat-id");
    let (output, report) = run(
        tmp.path(),
        &[
            "fuzz",
            "--migrations",
            &migrations,
            "--cases",
            "300",
            "--seed",
            "1",
            "--emit",
            &emit_arg,
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let found = findings(&report);
    let failure = found
        .iter()
        .find(|f| f["kind"] == "legacy-apply-failed")
        .unwrap_or_else(|| panic!("no legacy-apply-failed in {report:#}"));
    assert_eq!(failure["migration"], "002_jobs.sql", "{failure:#}");
    assert_eq!(failure["line"], 12, "{failure:#}");
    assert_eq!(failure["sqlstate"], "42703", "{failure:#}");
    assert_eq!(report["summary"]["cases"], 300, "{report:#}");

    // The emitted file, read back by verify, fails in the same place, from
    // the same (shrunk) state.
    let files: Vec<_> = std::fs::read_dir(&emit)
        .expect("--emit wrote its directory")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), found.len(), "one file per finding: {files:?}");
    let file = files
        .iter()
        .find(|p| p.to_string_lossy().contains("legacy-apply-failed"))
        .expect("a file for the legacy-apply-failed finding");
    let text = std::fs::read_to_string(file).expect("read the emitted file");
    assert!(text.contains("upto:"), "{text}");
    assert!(
        text.contains("DROP COLUMN"),
        "shrunk to the dropped column:\n{text}"
    );
    let file_arg = file.display().to_string();
    let (output, verified) = run(tmp.path(), &["verify", &file_arg, "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{verified:#}");
    let again = findings(&verified);
    assert!(
        again.iter().any(|f| f["kind"] == "legacy-apply-failed"
            && f["migration"] == "002_jobs.sql"
            && f["line"] == 12
            && f["legacy_state"] == failure["legacy_state"]),
        "verify of {text}\ngave {verified:#}"
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn the_fixed_jobs_set_gives_no_finding() {
    let tmp = private_tmp();
    let migrations = set("ok/jobs-before-chat-id");
    let (output, report) = run(
        tmp.path(),
        &[
            "fuzz",
            "--migrations",
            &migrations,
            "--cases",
            "300",
            "--seed",
            "1",
            "--format",
            "json",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(findings(&report), Vec::<Value>::new());
    assert_eq!(report["summary"]["cases"], 300);
    assert_nothing_left(tmp.path());
}

#[test]
fn a_seed_gives_the_same_findings_whatever_the_jobs_and_shards_split_the_cases() {
    let tmp = private_tmp();
    let migrations = set("err/jobs-before-chat-id");
    let fuzz = |extra: &[&str]| {
        let mut args = vec![
            "fuzz",
            "--migrations",
            &migrations,
            "--cases",
            "80",
            "--seed",
            "7",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let (_, report) = run(tmp.path(), &args);
        report
    };
    let key = |report: &Value| {
        let mut keys: Vec<String> = findings(report)
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {}",
                    f["kind"], f["migration"], f["line"], f["legacy_state"]
                )
            })
            .collect();
        keys.sort();
        keys
    };
    let one = fuzz(&["-j", "1"]);
    let two = fuzz(&["-j", "2"]);
    assert!(!key(&one).is_empty(), "{one:#}");
    assert_eq!(key(&one), key(&two));
    let first = fuzz(&["--shard", "1/2"]);
    let second = fuzz(&["--shard", "2/2"]);
    assert_eq!(first["summary"]["cases"], 40);
    assert_eq!(second["summary"]["cases"], 40);
    assert_nothing_left(tmp.path());
}

#[test]
fn bad_fuzz_arguments_exit_2_with_a_clear_error() {
    let tmp = private_tmp();
    let migrations = set("ok/jobs-before-chat-id");
    let cases: [(&[&str], &str); 4] = [
        (&["--shard", "3/2"], "--shard"),
        (&["--shard", "x"], "expected I/N"),
        (&["--cases", "10", "--time", "5s"], "cannot be used with"),
        (&["--keep-failed"], "--emit DIR"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["fuzz", "--migrations", &migrations];
        args.extend_from_slice(extra);
        let output = migcheck(tmp.path(), &args).output().expect("run migcheck");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let output = migcheck(
        tmp.path(),
        &["fuzz", "--migrations", "/nonexistent/migcheck-m"],
    )
    .output()
    .expect("run migcheck");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such directory"));
    assert_nothing_left(tmp.path());
}

/// The exit code a finished run gives for `report`: 1 with an error
/// finding, else 0.
fn exit_code(report: &Value) -> i32 {
    i32::from(findings(report).iter().any(|f| f["severity"] == "error"))
}

/// Whether a backend of migcheck `pid` is connected to a worker's
/// database (named after the pid): cases are running.
fn cases_running(pid: u32) -> bool {
    std::fs::read_dir("/proc").is_ok_and(|procs| {
        procs.flatten().any(|p| {
            std::fs::read(p.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&format!("migcheck_tx_{pid}_")))
        })
    })
}

#[test]
fn ctrl_c_ends_a_fuzz_run_with_its_report_and_emitted_files_and_leaves_nothing() {
    use std::time::{Duration, Instant};
    let tmp = private_tmp();
    let out = tempfile::Builder::new()
        .prefix("migcheck-fuzztest-emit-")
        .tempdir()
        .expect("temp dir");
    let emit = out.path().join("found");
    let report_path = out.path().join("report.json");
    let migrations = set("err/jobs-before-chat-id");
    let mut child = migcheck(
        tmp.path(),
        &[
            "fuzz",
            "--migrations",
            &migrations,
            "--time",
            "600s",
            "--seed",
            "1",
            "--emit",
            &emit.display().to_string(),
            "--format",
            "json",
            "--output",
            &report_path.display().to_string(),
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn migcheck");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cases_running(pid) {
        assert!(Instant::now() < deadline, "no case started");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "migcheck exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Long enough for a few hundred cases: the set fails in most of them.
    std::thread::sleep(Duration::from_secs(2));
    let status = interrupt(&mut child);
    let text = std::fs::read_to_string(&report_path).expect("the report was written");
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    assert_eq!(status.code(), Some(exit_code(&report)), "{report:#}");
    assert!(
        findings(&report)
            .iter()
            .any(|f| f["kind"] == "legacy-apply-failed"),
        "{report:#}"
    );
    let notes = report.to_string();
    assert!(notes.contains("stopped by Ctrl-C"), "{report:#}");
    let emitted = std::fs::read_dir(&emit)
        .expect("--emit wrote its directory")
        .count();
    assert_eq!(emitted, findings(&report).len(), "{report:#}");
    assert_nothing_left(tmp.path());
}

#[test]
fn time_bounds_shrinking_too_and_the_run_reports_what_it_found() {
    let tmp = private_tmp();
    let migrations = set("err/jobs-before-chat-id");
    let (output, report) = run(
        tmp.path(),
        &[
            "fuzz",
            "--migrations",
            &migrations,
            "--time",
            "2s",
            "--seed",
            "1",
            "--format",
            "json",
        ],
    );
    // Cases take three quarters of the time and shrinking the rest: the
    // run ends and reports what it found, shrunk or not (a note says which).
    assert_eq!(output.status.code(), Some(exit_code(&report)), "{report:#}");
    assert!(
        findings(&report)
            .iter()
            .any(|f| f["kind"] == "legacy-apply-failed"),
        "{report:#}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let cut_short = report.to_string().contains("stopped by --time");
    assert!(
        cut_short || stderr.contains("shrinking finding 1 of"),
        "shrinking neither ran nor was cut short: {report:#}\n{stderr}"
    );
    assert_nothing_left(tmp.path());
}
