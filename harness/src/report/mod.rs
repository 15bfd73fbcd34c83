//! Reports: the results of a run, rendered for people (`human`), for
//! scripts (`json`, the contract of `product.md`) and for CI systems
//! (`junit`, `sarif`, `github` annotations, a `markdown` summary).
//! Rendering is deterministic apart from the measured duration.

mod github;
mod human;
mod json;
mod junit;
mod markdown;
mod sarif;

use std::path::PathBuf;
use std::time::Duration;

use crate::finding::{Check, Finding, Kind};
use crate::migrations::MigrationSet;
use crate::sandbox::Strategy;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
    /// JUnit XML: one testcase per scenario, check and server version.
    Junit,
    /// SARIF 2.1.0, for code scanning: findings located in migration files.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=...`), which
    /// annotate the pull request.
    Github,
    /// A summary for `$GITHUB_STEP_SUMMARY` or a pull request comment.
    Markdown,
}

/// What happened to one scenario on one server.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    /// The set as it was read: `None` when it could not be.
    pub set: Option<SetSummary>,
    pub postgres: String,
    /// `None` when nothing ran on a server (`migcheck lint`).
    pub sandbox: Option<Strategy>,
    /// Why the sandbox is not the cheapest one, if it is not.
    pub sandbox_reason: Option<String>,
    /// The runner mode used and why (`tracked: sqlx's runner ...`); `None`
    /// where no runner applies (`bench`).
    pub runner: Option<String>,
    pub checks: Vec<Check>,
    /// Checks of `checks` that could not run, and why: never shown as
    /// passed.
    pub not_run: Vec<NotRun>,
    pub cases: usize,
    pub findings: Vec<Finding>,
    /// What a check did not do, or how much it did ("no down migrations",
    /// "62 injected faults"): informational, never failing.
    pub notes: Vec<String>,
    /// Migrations the scenario exempts from a check, with its reasons.
    pub opt_outs: Vec<OptOutNote>,
    /// The scenario's migration directory, so that reports can name a
    /// finding's file (`migration` is the file's name inside it).
    pub migrations: Option<PathBuf>,
    /// The database of its failing case, kept with `--keep-failed`.
    pub kept: Option<Kept>,
}

/// The set a scenario ran, as reports name it: its format and the order
/// its runner applies it in, by the first and last migration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SetSummary {
    pub format: String,
    pub migrations: usize,
    pub first: String,
    pub last: String,
}

impl SetSummary {
    pub fn of(set: &MigrationSet) -> SetSummary {
        let name = |m: Option<&crate::migrations::Migration>| m.map(|m| m.name.clone());
        SetSummary {
            format: set.format.name().to_string(),
            migrations: set.migrations.len(),
            first: name(set.migrations.first()).unwrap_or_default(),
            last: name(set.migrations.last()).unwrap_or_default(),
        }
    }

    /// "sqlx set, 20 migrations, 2021..._create_history.sql … 2024..._x.sql"
    pub fn describe(&self) -> String {
        let order = match self.migrations {
            0 => String::new(),
            1 => format!(", {}", self.first),
            _ => format!(", {} … {}", self.first, self.last),
        };
        format!(
            "{} set, {} migration{}{order}",
            self.format,
            self.migrations,
            if self.migrations == 1 { "" } else { "s" }
        )
    }
}

/// `--keep-failed`: the database of a scenario's failing case, on a server
/// left running after migcheck exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The failing finding's kind and the legacy state it names.
    pub kind: Kind,
    pub legacy_state: Option<String>,
    /// A `psql` command that connects to the database.
    pub connect: String,
    /// The command that removes the server, once it is left running.
    pub remove: Option<String>,
}

impl Kept {
    /// What the reports say about it, as notes.
    pub fn notes(&self) -> Vec<String> {
        let state = self
            .legacy_state
            .as_ref()
            .map(|s| format!(" from legacy state \"{s}\""))
            .unwrap_or_default();
        let mut notes = vec![format!(
            "kept: the database of this failing case ({}{state}): {}",
            self.kind, self.connect
        )];
        if let Some(remove) = &self.remove {
            notes.push(format!(
                "kept: the server stays up; remove it with: {remove}"
            ));
        }
        notes
    }
}

/// A scenario's exemption (`irreversible:`, `not_atomic:`, `ignore:`) or
/// a migration's inline `-- migcheck: ignore`, listed in every report so
/// that no exception goes unseen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OptOutNote {
    /// `irreversible`, `not-atomic` or `ignore`.
    pub kind: &'static str,
    pub check: Check,
    /// The migration (`*` for an `ignore:` without one); for an inline
    /// directive, `<migration>:<line>` of the comment.
    pub migration: String,
    pub reason: String,
    /// The finding kind an `ignore` accepts; null for the others.
    pub finding: Option<crate::finding::Kind>,
}

/// A check that was asked for but could not run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotRun {
    pub check: Check,
    /// Why, e.g. "the fresh install fails".
    pub reason: String,
}

impl ScenarioResult {
    pub fn ok(&self) -> bool {
        !self.findings.iter().any(Finding::fails_run)
    }

    /// Why `check` did not run, if it did not.
    pub fn not_run(&self, check: Check) -> Option<&str> {
        self.not_run
            .iter()
            .find(|n| n.check == check)
            .map(|n| n.reason.as_str())
    }

    /// The notes, then what `--keep-failed` kept.
    pub fn all_notes(&self) -> Vec<String> {
        let kept = self.kept.iter().flat_map(Kept::notes);
        self.notes.iter().cloned().chain(kept).collect()
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub scenarios: Vec<ScenarioResult>,
    /// Server versions used, e.g. "15.18".
    pub postgres: Vec<String>,
    /// Where the servers came from, e.g. "local /usr/lib/postgresql/15/bin".
    pub backend: String,
    pub duration: Duration,
}

impl Report {
    /// Distinct scenarios: with a version matrix each runs once per version.
    pub fn scenario_count(&self) -> usize {
        let mut ids: Vec<&str> = self.scenarios.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.scenarios.iter().flat_map(|s| s.findings.iter())
    }

    /// No finding that fails the run (unexpected and of severity error).
    pub fn ok(&self) -> bool {
        self.scenarios.iter().all(ScenarioResult::ok)
    }

    /// 0 when ok, 1 when a finding fails the run.
    pub fn exit_code(&self) -> i32 {
        if self.ok() { 0 } else { 1 }
    }

    /// `quiet` leaves out, in human output, scenarios without findings.
    pub fn render(&self, format: OutputFormat, color: bool, quiet: bool) -> String {
        match format {
            OutputFormat::Human => human::render(self, color, quiet),
            OutputFormat::Json => json::render(self),
            OutputFormat::Junit => junit::render(self),
            OutputFormat::Sarif => sarif::render(self),
            OutputFormat::Github => github::render(self),
            OutputFormat::Markdown => markdown::render(self),
        }
    }
}

/// The file a finding is in, as a path relative to the current directory
/// when it lies below it (what CI annotations and code scanning expect),
/// or `None` when the finding names no migration file of the scenario.
pub(crate) fn finding_path(scenario: &ScenarioResult, finding: &Finding) -> Option<String> {
    let name = finding.migration.as_ref()?;
    let dir = scenario.migrations.as_ref()?;
    let path = dir.join(name);
    if !path.exists() {
        // A legacy state's SQL or lint's prediction, not a file of the set.
        return None;
    }
    let path = match (path.canonicalize(), std::env::current_dir()) {
        (Ok(full), Ok(cwd)) => match full.strip_prefix(&cwd) {
            Ok(relative) => relative.to_path_buf(),
            Err(_) => full,
        },
        _ => path,
    };
    Some(path.to_string_lossy().into_owned())
}

/// `text` (a server message a migration raised, a file or scenario name,
/// anything a user controls) made safe to print on a terminal or in a CI
/// log, the one sanitiser of every report:
///
/// - control characters other than line feeds and tabs (ESC, CR, BEL,
///   NUL, the C1 range) and the invisible bidirectional controls become
///   visible escapes (`\x1b`, `\r`, `\u{202e}`), so nothing moves the
///   cursor, rewrites a line or reorders what a reader sees;
/// - a line that would begin with `::` (after blanks: GitHub's runner
///   trims them) starts `\::`, so that no line of a log is a workflow
///   command (`::error`, `::add-mask`, `::stop-commands`);
/// - `##[`, the older command prefix the runner also accepts in the middle
///   of a line, becomes `##\[`.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut line_start = true;
    for (i, c) in text.char_indices() {
        // The runner trims every kind of blank (`TrimStart`), not only
        // spaces.
        if line_start && !(c.is_whitespace() && c != '\n') {
            line_start = false;
            if text[i..].starts_with("::") {
                out.push('\\');
            }
        }
        match c {
            '\n' => {
                out.push('\n');
                line_start = true;
            }
            '\t' => out.push('\t'),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\x{:02x}", c as u32));
            }
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{{{:x}}}", c as u32));
            }
            '[' if out.ends_with("##") => out.push_str("\\["),
            c => out.push(c),
        }
    }
    out
}

/// A report rendered as pretty JSON (`json`, `sarif`), made safe for a CI
/// log without changing what a JSON parser reads: every line starts with
/// blanks and a quote or a bracket, never `::`, and `##[` (only ever in a
/// string) is written `##\u005b`. Control characters serde_json already
/// escapes.
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .replace("##[", "##\\u005b");
    text.push('\n');
    text
}

/// Where a finding is: `file:line:column`, or the migration's name, or
/// nothing.
pub(crate) fn place(scenario: &ScenarioResult, finding: &Finding) -> String {
    let Some(file) = finding_path(scenario, finding).or_else(|| finding.migration.clone()) else {
        return String::new();
    };
    match (finding.line, finding.column) {
        (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(line), None) => format!("{file}:{line}"),
        _ => file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        assert_eq!(printable(text), expected, "{text:?}");
        // Sanitising twice changes nothing more.
        assert_eq!(printable(expected), expected, "{expected:?} again");
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        check("a\x1b[31mred\x07\0", "a\\x1b[31mred\\x07\\x00");
        check("over\rwrite", "over\\rwrite");
        check("tab\tand\nline", "tab\tand\nline");
        check("c1 \u{9b}31m", "c1 \\x9b31m");
        check("rtl \u{202e}txt.sql", "rtl \\u{202e}txt.sql");
        check("é 😀", "é 😀");
    }

    #[test]
    fn no_line_can_be_a_workflow_command() {
        check("::error::x", "\\::error::x");
        check(
            "first\n  ::add-mask::secret\n\u{a0}::stop-commands::t",
            "first\n  \\::add-mask::secret\n\u{a0}\\::stop-commands::t",
        );
        check("a ::error:: in a line", "a ::error:: in a line");
        check("\r::error::x", "\\r\\::error::x");
        check(": one colon", ": one colon");
        check(
            "old ##[error]style ##[warning]",
            "old ##\\[error]style ##\\[warning]",
        );
    }

    #[test]
    fn json_reads_the_same_and_prints_no_command() {
        let value = serde_json::json!({"message": "##[error]x\n::error::y"});
        let text = json_text(&value);
        assert!(!text.contains("##["), "{text}");
        assert!(
            text.lines().all(|l| !l.trim_start().starts_with("::")),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, value);
    }
}
