//! A markdown summary for `$GITHUB_STEP_SUMMARY` or a pull request
//! comment: the verdict, a table of scenarios by server version, and each
//! finding with its place and, folded, its diff.

use std::fmt::Write;

use super::{Report, ScenarioResult, place};

pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    let findings = report.findings().count();
    let failing = report.findings().filter(|f| f.fails_run()).count();
    let verdict = match failing {
        0 => "✅ migcheck: ok".to_string(),
        n => format!("❌ migcheck: {n} failing finding{}", plural(n)),
    };
    let _ = writeln!(out, "## {verdict}\n");
    let servers = match report.postgres.is_empty() {
        true => "without a server".to_string(),
        false => format!("on postgres {}", report.postgres.join(", ")),
    };
    let _ = writeln!(
        out,
        "{} scenario{}, {} case{}, {findings} finding{} ({failing} failing) {servers} in {:.1} s.\n",
        report.scenario_count(),
        plural(report.scenario_count()),
        report.scenarios.iter().map(|s| s.cases).sum::<usize>(),
        plural(report.scenarios.iter().map(|s| s.cases).sum::<usize>()),
        plural(findings),
        report.duration.as_secs_f64()
    );
    out.push_str("| scenario | postgres | checks | result |\n|---|---|---|---|\n");
    for s in &report.scenarios {
        let checks: Vec<String> = s
            .checks
            .iter()
            .map(|&c| match s.not_run(c) {
                Some(why) => format!("{c} (not run: {why})"),
                None => c.to_string(),
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&s.id),
            cell(if s.postgres.is_empty() {
                "-"
            } else {
                &s.postgres
            }),
            cell(&checks.join(", ")),
            result(s)
        );
    }
    if findings == 0 {
        return out;
    }
    out.push_str("\n### Findings\n\n");
    for s in &report.scenarios {
        for f in &s.findings {
            let mark = match (f.fails_run(), f.expected) {
                (true, _) => "❌",
                (false, true) => "☑️ expected",
                (false, false) => "⚠️",
            };
            let at = place(s, f);
            let at = if at.is_empty() {
                String::new()
            } else {
                format!(" `{}`", inline(&at).replace('`', "'"))
            };
            let mut context = vec![format!("scenario `{}`", inline(&s.id).replace('`', "'"))];
            if let Some(check) = f.check {
                context.push(format!("check {check}"));
            }
            if !s.postgres.is_empty() {
                context.push(format!("postgres {}", s.postgres));
            }
            if let Some(state) = &f.legacy_state {
                context.push(format!("legacy state \"{}\"", inline(state)));
            }
            let sqlstate = f
                .sqlstate
                .as_ref()
                .map(|s| format!(" (SQLSTATE {})", inline(s)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- {mark} **{}**{at}: {}{sqlstate} — {}",
                f.kind,
                inline(&f.message),
                context.join(", ")
            );
            if let Some(diff) = &f.diff {
                let diff: String = super::printable(diff)
                    .replace("```", "'''")
                    .lines()
                    .map(|line| format!("  {line}\n"))
                    .collect();
                let _ = writeln!(
                    out,
                    "  <details><summary>schema difference</summary>\n\n  ```\n{diff}  ```\n  </details>"
                );
            }
        }
    }
    out
}

fn result(s: &ScenarioResult) -> String {
    let failing = s.findings.iter().filter(|f| f.fails_run()).count();
    let expected = s.findings.iter().filter(|f| f.expected).count();
    match (failing, expected) {
        (0, 0) => "✅ ok".into(),
        (0, n) => format!("✅ ok ({n} expected)"),
        (n, _) => format!("❌ {n} failing"),
    }
}

/// Text inside a table cell: no line breaks, no column separators.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

/// Text on one markdown line, without HTML taking effect.
fn inline(text: &str) -> String {
    super::printable(text)
        .replace('\n', " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
