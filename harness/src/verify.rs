//! Verify: runs scenarios through the pipeline on one server per asked
//! major (the version matrix) into one report, and keeps the database of
//! each failing scenario when asked (`--keep-failed`). `migcheck verify`
//! and `migcheck check` run here; `lint` is the static part alone.

use std::time::Instant;

use crate::finding::Check;
use crate::pipeline;
use crate::postgres::{PgSpec, for_each_major};
use crate::report::{Kept, Report, ScenarioResult};
use crate::sandbox::{SandboxChoice, Timeouts};
use crate::scenario::Scenario;

#[derive(Debug, Clone)]
pub struct Options {
    pub pg: PgSpec,
    /// Majors to run on, each on a server of its own; empty: the backend's
    /// default.
    pub pg_versions: Vec<u32>,
    pub sandbox: SandboxChoice,
    pub checks: Vec<Check>,
    /// Limits on each statement of the migrations (`timeout` findings).
    pub timeouts: Timeouts,
    /// Keep a database of each failing scenario, on a server left running,
    /// and say in the scenario's result how to connect (`--keep-failed`).
    pub keep_failed: bool,
    /// Called before each scenario with (number, total, "id (postgres N)"):
    /// the command line prints progress with it on a terminal.
    pub progress: Option<fn(usize, usize, &str)>,
}

/// Runs every scenario, in order, on one server per asked major version
/// (the version matrix), one version after the other.
pub fn run(scenarios: &[Scenario], options: &Options) -> Result<Report, crate::Error> {
    let started = Instant::now();
    let runtime = crate::runtime().map_err(crate::Error::Runtime)?;
    let total = scenarios.len() * options.pg_versions.len().max(1);
    let mut results: Vec<ScenarioResult> = Vec::new();
    let mut postgres = Vec::new();
    let mut backends: Vec<String> = Vec::new();
    if scenarios.is_empty() {
        return Ok(Report {
            scenarios: results,
            postgres,
            backend: String::new(),
            duration: started.elapsed(),
        });
    }
    // Once for every major, and before a server starts: a scenario that
    // cannot run costs no server.
    let prepareds = scenarios
        .iter()
        .map(|scenario| pipeline::prepare(scenario, &options.checks, options.sandbox))
        .collect::<Result<Vec<_>, _>>()?;
    for_each_major(&options.pg, &options.pg_versions, |server| {
        for prepared in &prepareds {
            if let Some(progress) = options.progress {
                let what = format!("{} (postgres {})", prepared.scenario.id, server.version());
                progress(results.len() + 1, total, &what);
            }
            let observation =
                runtime.block_on(pipeline::observe(&server, prepared, options.timeouts))?;
            let result =
                pipeline::judge(prepared, &observation, options.timeouts, server.version());
            results.push(result);
        }
        postgres.push(server.version().to_string());
        let backend = format!("{} {}", server.backend(), server.location());
        if !backends.contains(&backend) {
            backends.push(backend);
        }
        if !options.keep_failed {
            return Ok::<_, crate::Error>(());
        }
        let first = results.len() - scenarios.len();
        let mut kept = false;
        for (prepared, result) in prepareds.iter().zip(&mut results[first..]) {
            let Some(finding) = result.findings.iter().find(|f| f.fails_run()) else {
                continue;
            };
            let finding = finding.clone();
            let database = runtime.block_on(crate::keep::keep_case(
                &server,
                &prepared.scenario,
                &finding,
                options.timeouts,
            ))?;
            result.kept = Some(Kept {
                kind: finding.kind,
                legacy_state: finding.legacy_state.clone(),
                connect: server.psql_command(&database),
                remove: None,
            });
            kept = true;
        }
        if kept {
            let remove = server.keep();
            for result in &mut results[first..] {
                if let Some(kept) = &mut result.kept {
                    kept.remove = Some(remove.clone());
                }
            }
        }
        Ok(())
    })?;
    Ok(Report {
        scenarios: results,
        postgres,
        backend: backends.join(", "),
        duration: started.elapsed(),
    })
}
