//! GitHub Actions workflow commands: one `::error` (or `::warning`,
//! `::notice` for expected findings) per finding, with the file and line
//! so that the pull request's diff is annotated.

use std::fmt::Write;

use super::{Report, finding_path};
use crate::finding::Severity;

pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    for s in &report.scenarios {
        for f in &s.findings {
            let command = match (f.expected, f.severity) {
                (true, _) => "notice",
                (false, Severity::Error) => "error",
                (false, Severity::Warning) => "warning",
            };
            let mut properties = Vec::new();
            if let Some(file) = finding_path(s, f) {
                properties.push(format!("file={}", property(&file)));
                if let Some(line) = f.line {
                    properties.push(format!("line={line}"));
                    if let Some(column) = f.column {
                        properties.push(format!("col={column}"));
                    }
                }
            }
            let mut title = format!("migcheck {}: {}", f.kind, s.id);
            if !s.postgres.is_empty() {
                let _ = write!(title, " (postgres {})", s.postgres);
            }
            properties.push(format!("title={}", property(&title)));
            let mut message = f.message.clone();
            if let Some(migration) = f
                .migration
                .as_ref()
                .filter(|_| finding_path(s, f).is_none())
            {
                message = format!("{migration}: {message}");
            }
            if let Some(state) = &f.legacy_state {
                let _ = write!(message, " (from legacy state \"{state}\")");
            }
            if let Some(diff) = &f.diff {
                let _ = write!(message, "\n{diff}");
            }
            let _ = writeln!(
                out,
                "::{command} {}::{}",
                properties.join(","),
                data(&message)
            );
        }
    }
    let failing = report.findings().filter(|f| f.fails_run()).count();
    let _ = writeln!(
        out,
        "migcheck: {} scenario{}, {} finding{} ({failing} failing)",
        report.scenario_count(),
        if report.scenario_count() == 1 {
            ""
        } else {
            "s"
        },
        report.findings().count(),
        if report.findings().count() == 1 {
            ""
        } else {
            "s"
        },
    );
    out
}

/// A command's message: `%` and LF escaped as GitHub documents (CR, like
/// every other control character, `printable` already wrote as an escape).
fn data(text: &str) -> String {
    super::printable(text)
        .replace('%', "%25")
        .replace('\n', "%0A")
}

/// A command's property value: also `:` and `,`.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}
