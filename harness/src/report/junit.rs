//! JUnit XML, the format most CI dashboards read: a testsuite per scenario
//! and server version, a testcase per check. A check fails when it has a
//! finding that fails the run; expected findings and warnings are listed
//! in the testcase's `system-out`; a check that could not run is
//! `skipped`, with the reason.

use std::fmt::Write;

use super::{Report, ScenarioResult, place};
use crate::finding::{Check, Finding};

pub(super) fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let cases: Vec<(&ScenarioResult, Vec<Option<Check>>)> =
        report.scenarios.iter().map(|s| (s, testcases(s))).collect();
    let tests: usize = cases.iter().map(|(_, c)| c.len()).sum();
    let failures: usize = cases
        .iter()
        .map(|(s, checks)| {
            checks
                .iter()
                .filter(|c| failing(s, **c).count() > 0)
                .count()
        })
        .sum();
    let _ = writeln!(
        out,
        "<testsuites name=\"migcheck\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        report.duration.as_secs_f64()
    );
    for (s, checks) in &cases {
        let suite = suite_name(s);
        let suite_failures = checks
            .iter()
            .filter(|c| failing(s, **c).count() > 0)
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{suite_failures}\" errors=\"0\" skipped=\"{}\">",
            escape(&suite),
            checks.len(),
            s.not_run.len()
        );
        for check in checks {
            testcase(&mut out, s, &suite, *check);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `err/jobs-before-chat-id (postgres 15.20)`; without a server, the id.
fn suite_name(s: &ScenarioResult) -> String {
    match s.postgres.as_str() {
        "" => s.id.clone(),
        version => format!("{} (postgres {version})", s.id),
    }
}

/// The checks that ran, plus `None` ("verify") when a finding belongs to
/// no check (a pinned finding that did not happen, for one).
fn testcases(s: &ScenarioResult) -> Vec<Option<Check>> {
    let mut cases: Vec<Option<Check>> = s.checks.iter().copied().map(Some).collect();
    if s.findings.iter().any(|f| f.check.is_none()) {
        cases.push(None);
    }
    cases
}

fn mine(s: &ScenarioResult, check: Option<Check>) -> impl Iterator<Item = &Finding> {
    s.findings.iter().filter(move |f| f.check == check)
}

fn failing(s: &ScenarioResult, check: Option<Check>) -> impl Iterator<Item = &Finding> {
    mine(s, check).filter(|f| f.fails_run())
}

fn testcase(out: &mut String, s: &ScenarioResult, suite: &str, check: Option<Check>) {
    let name = check.map_or("verify", Check::as_str);
    let _ = write!(
        out,
        "    <testcase name=\"{name}\" classname=\"{}\"",
        escape(suite)
    );
    if let Some(why) = check.and_then(|c| s.not_run(c)) {
        let _ = writeln!(
            out,
            ">\n      <skipped message=\"not run: {}\"/>\n    </testcase>",
            escape(why)
        );
        return;
    }
    let failures: Vec<&Finding> = failing(s, check).collect();
    let others: Vec<&Finding> = mine(s, check).filter(|f| !f.fails_run()).collect();
    if failures.is_empty() && others.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    if let Some(first) = failures.first() {
        let message = match failures.len() {
            1 => format!("{}: {}", first.kind, first.message),
            n => format!("{} findings; first: {}: {}", n, first.kind, first.message),
        };
        let body: String = failures.iter().map(|f| describe(s, f)).collect();
        let _ = writeln!(
            out,
            "      <failure type=\"{}\" message=\"{}\">{}</failure>",
            first.kind,
            escape(&message),
            escape(&body)
        );
    }
    if !others.is_empty() {
        let body: String = others.iter().map(|f| describe(s, f)).collect();
        let _ = writeln!(out, "      <system-out>{}</system-out>", escape(&body));
    }
    out.push_str("    </testcase>\n");
}

/// A finding as text: kind, place, message, SQLSTATE, diff.
fn describe(s: &ScenarioResult, f: &Finding) -> String {
    let mut text = format!("{}", f.kind);
    if f.expected {
        text.push_str(" (expected)");
    }
    if let Some(state) = &f.legacy_state {
        let _ = write!(text, " from legacy state \"{state}\"");
    }
    let at = place(s, f);
    if !at.is_empty() {
        let _ = write!(text, " at {at}");
    }
    let _ = write!(text, ": {}", f.message);
    if let Some(sqlstate) = &f.sqlstate {
        let _ = write!(text, " [SQLSTATE {sqlstate}]");
    }
    text.push('\n');
    if let Some(diff) = &f.diff {
        text.push_str(diff);
        if !diff.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

/// Escapes for XML text and attributes, after `printable` (control
/// characters, which XML 1.0 cannot hold at all, shown as escapes; no line
/// starting `::`).
pub(super) fn escape(text: &str) -> String {
    let text = super::printable(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not characters in XML 1.0; control characters `printable`
            // already wrote as escapes.
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
