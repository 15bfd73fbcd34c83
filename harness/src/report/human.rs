//! The report for people: one block per scenario, its checks, its findings
//! with file:line and diffs, and a closing line. Coloured on a terminal.

use std::fmt::Write;

use super::{Report, ScenarioResult, printable};
use crate::finding::{Finding, Severity};

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn red(&self, t: &str) -> String {
        self.wrap("31", t)
    }
    fn green(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.wrap("33", t)
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn dim(&self, t: &str) -> String {
        self.wrap("2", t)
    }
}

pub(super) fn render(report: &Report, color: bool, quiet: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    for s in &report.scenarios {
        if quiet && s.findings.is_empty() {
            continue;
        }
        let sandbox = match (&s.sandbox, &s.sandbox_reason) {
            (None, _) => "none".to_string(),
            (Some(strategy), None) => strategy.to_string(),
            (Some(strategy), Some(reason)) => format!("{strategy} ({reason})"),
        };
        // Every text a user or a migration controls goes through
        // `printable` before it is painted (painting adds escapes of its own).
        let _ = writeln!(
            out,
            "{} {}",
            p.bold(&printable(&s.id)),
            p.dim(&printable(&match s.postgres.as_str() {
                "" => format!("· {} · static analysis, no server", s.title),
                version => format!("· {} · postgres {version} · sandbox: {sandbox}", s.title),
            }))
        );
        // The set's line; the runner's goes beside it.
        if let Some(set) = &s.set {
            let _ = writeln!(out, "  {}", p.dim(&printable(&set.describe())));
        }
        if let Some(runner) = &s.runner {
            let _ = writeln!(out, "  {}", p.dim(&printable(&format!("runner: {runner}"))));
        }
        let checks: Vec<String> = s
            .checks
            .iter()
            .map(|check| {
                if let Some(why) = s.not_run(*check) {
                    return p.dim(&printable(&format!("– {check} (not run: {why})")));
                }
                let mine: Vec<&Finding> = s
                    .findings
                    .iter()
                    .filter(|f| f.check == Some(*check))
                    .collect();
                if mine.iter().any(|f| f.fails_run()) {
                    p.red(&format!("✗ {check}"))
                } else if mine.iter().any(|f| f.expected) {
                    p.yellow(&format!("✓ {check} (expected finding)"))
                } else if !mine.is_empty() {
                    p.yellow(&format!("! {check}"))
                } else {
                    p.green(&format!("✓ {check}"))
                }
            })
            .collect();
        let _ = writeln!(out, "  {}", checks.join("  "));
        for o in &s.opt_outs {
            let what = match o.finding {
                Some(kind) => format!("{} {kind}", o.kind),
                None => o.kind.to_string(),
            };
            let _ = writeln!(
                out,
                "  {} {}",
                p.yellow("opt-out:"),
                printable(&format!("{what} {}: {}", o.migration, o.reason))
            );
        }
        for note in &s.all_notes() {
            let _ = writeln!(out, "  {} {}", p.dim("note:"), printable(note));
        }
        for f in &s.findings {
            finding(&mut out, &p, f);
        }
    }
    if report.postgres.len() > 1 {
        matrix(&mut out, &p, report);
    }
    let findings: Vec<&Finding> = report.findings().collect();
    let failing = findings.iter().filter(|f| f.fails_run()).count();
    let expected = findings.iter().filter(|f| f.expected).count();
    let servers = match report.postgres.is_empty() {
        true => "without a server".to_string(),
        false => printable(&format!(
            "on postgres {} ({})",
            report.postgres.join(", "),
            report.backend
        )),
    };
    let summary = format!(
        "{} scenario{}, {} finding{} ({failing} failing, {expected} expected) {servers} in {:.1} s",
        report.scenario_count(),
        plural(report.scenario_count()),
        findings.len(),
        plural(findings.len()),
        report.duration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "\n{} {summary}",
        if failing == 0 {
            p.green("ok:")
        } else {
            p.red("FAILED:")
        }
    );
    out
}

/// The version matrix: a row per scenario, a column per server version,
/// each cell what that scenario found on that version.
fn matrix(out: &mut String, p: &Paint, report: &Report) {
    let mut ids: Vec<&str> = Vec::new();
    for s in &report.scenarios {
        if !ids.contains(&s.id.as_str()) {
            ids.push(&s.id);
        }
    }
    let shown = |id: &str| printable(id).replace('\n', " ");
    let first = ids
        .iter()
        .map(|id| shown(id).len())
        .max()
        .unwrap_or(0)
        .max(8);
    let cell = |s: Option<&ScenarioResult>| -> (String, bool) {
        let Some(s) = s else {
            return ("-".into(), false);
        };
        let failing = s.findings.iter().filter(|f| f.fails_run()).count();
        let expected = s.findings.iter().filter(|f| f.expected).count();
        match (failing, expected) {
            (0, 0) => ("ok".into(), false),
            (0, n) => (format!("ok ({n} expected)"), false),
            (n, _) => (format!("{n} failing"), true),
        }
    };
    let width = report
        .postgres
        .iter()
        .map(|v| v.len())
        .chain(report.scenarios.iter().map(|s| cell(Some(s)).0.len()))
        .max()
        .unwrap_or(0)
        + 2;
    let _ = write!(out, "\n{:first$}", "scenario");
    for version in &report.postgres {
        let _ = write!(out, "  {:width$}", printable(version));
    }
    out.push('\n');
    for id in ids {
        let _ = write!(out, "{:first$}", shown(id));
        for version in &report.postgres {
            let result = report
                .scenarios
                .iter()
                .find(|s| s.id == id && &s.postgres == version);
            let (text, failed) = cell(result);
            let padded = format!("{text:width$}");
            let _ = write!(out, "  {}", if failed { p.red(&padded) } else { padded });
        }
        out.push('\n');
    }
}

fn finding(out: &mut String, p: &Paint, f: &Finding) {
    let label = match (f.severity, f.expected) {
        (_, true) => p.yellow(&format!("{} (expected)", f.kind)),
        (Severity::Error, false) => p.red(&format!("error {}", f.kind)),
        (Severity::Warning, false) => p.yellow(&format!("warning {}", f.kind)),
    };
    let mut context = Vec::new();
    if let Some(check) = f.check {
        context.push(format!("check {check}"));
    }
    if let Some(state) = &f.legacy_state {
        context.push(format!("legacy state \"{state}\""));
    }
    let _ = writeln!(out, "  {label} {}", p.dim(&printable(&context.join(" · "))));
    let mut place = String::new();
    if let Some(migration) = &f.migration {
        place = migration.clone();
        if let Some(line) = f.line {
            let _ = write!(place, ":{line}");
            if let Some(column) = f.column {
                let _ = write!(place, ":{column}");
            }
        }
        if let Some(n) = f.statement {
            let _ = write!(place, " (statement {n})");
        }
        place.push_str(": ");
    }
    let sqlstate = f
        .sqlstate
        .as_ref()
        .map(|s| format!(" [SQLSTATE {s}]"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "    {}",
        printable(&format!("{place}{}{sqlstate}", f.message))
    );
    if let Some(diff) = &f.diff {
        for line in printable(diff).lines() {
            let _ = writeln!(out, "      {line}");
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
