//! Reports: the results of a run, rendered for people (`human`) and for
//! scripts (`json`, the contract of `product.md`). Rendering is
//! deterministic apart from the measured duration.

mod human;
mod json;

use std::time::Duration;

use crate::finding::{Check, Finding};
use crate::sandbox::Strategy;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

/// What happened to one scenario on one server.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub postgres: String,
    /// `None` when nothing ran on a server (`migcheck lint`).
    pub sandbox: Option<Strategy>,
    /// Why the sandbox is not the cheapest one, if it is not.
    pub sandbox_reason: Option<String>,
    pub checks: Vec<Check>,
    pub cases: usize,
    pub findings: Vec<Finding>,
    /// What a check did not do, or how much it did ("no down migrations",
    /// "62 injected faults"): informational, never failing.
    pub notes: Vec<String>,
    /// Migrations the scenario exempts from a check, with its reasons.
    pub opt_outs: Vec<OptOutNote>,
}

/// A scenario's exemption (`irreversible:` or `not_atomic:`), listed in
/// every report so that no exception goes unseen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OptOutNote {
    /// `irreversible` or `not-atomic`.
    pub kind: &'static str,
    pub check: Check,
    pub migration: String,
    pub reason: String,
}

impl ScenarioResult {
    pub fn ok(&self) -> bool {
        !self.findings.iter().any(Finding::fails_run)
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
        }
    }
}
