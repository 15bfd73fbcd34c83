//! The pipeline: the one way from a scenario to its result, which every
//! command takes (verify, check, the suite, fuzz, bench, snapshot and diff,
//! the self-test).
//!
//! 1. [`prepare`]: load the set, add the earlier versions it is deployed
//!    from first (pinned, `--changed-since`'s base, git history), refuse
//!    what acts outside migcheck's own databases (`guard`), check that the
//!    versions and names the scenario uses exist, lint (with the states
//!    its findings predict, added as legacy states), and choose the
//!    sandbox. No server.
//! 2. [`observe`]: run what the checks need in sandboxes on a server
//!    (`observe`). No judgement.
//! 3. `judge`: pure, from the observation to findings.
//!
//! `postgres::for_each_major` starts one server per asked major version;
//! a command runs its async work on one `crate::runtime()`.

mod judge;
mod prepare;

pub use judge::{Verdict, judge};
pub use prepare::{Prepared, prepare};

use crate::finding::Check;
use crate::migrations::MigrationSet;
use crate::observe::{self, Observation};
use crate::postgres::Server;
use crate::report::ScenarioResult;
use crate::sandbox::{Access, SandboxChoice, Sandboxes, Timeouts};
use crate::scenario::Scenario;

/// Step 2: observes `prepared` in sandboxes on `server`, each migration
/// statement limited by `timeouts`. The sandboxes' databases are dropped
/// before this returns, whatever happened.
pub async fn observe(
    server: &Server,
    prepared: &Prepared,
    timeouts: Timeouts,
) -> Result<Observation, crate::Error> {
    let in_scenario = |source| crate::Error::Scenario {
        id: prepared.scenario.id.clone(),
        source: Box::new(source),
    };
    let mut sandboxes = Sandboxes::new(server, prepared.sandbox.strategy, timeouts)
        .with_access(Access::of(prepared.scenario.superuser));
    // The rollback check reads the schema after every step: with the
    // triggers, only what each step touched.
    if prepared.checks.contains(&crate::finding::Check::Rollback) {
        sandboxes = sandboxes.tracking_ddl();
    }
    let observed = observe::observe(
        &mut sandboxes,
        &prepared.scenario,
        &prepared.set,
        &prepared.checks,
        &prepared.under_test,
        &prepared.rolled_back,
    )
    .await;
    let shut = sandboxes.shutdown().await;
    let observation = observed.map_err(|e| in_scenario(e.into()))?;
    shut.map_err(|e| in_scenario(e.into()))?;
    Ok(observation)
}

/// The three steps for one scenario on `server`.
pub async fn run_scenario(
    server: &Server,
    scenario: &Scenario,
    checks: &[Check],
    choice: SandboxChoice,
    timeouts: Timeouts,
) -> Result<ScenarioResult, crate::Error> {
    let prepared = prepare(scenario, checks, choice)?;
    let observation = observe(server, &prepared, timeouts).await?;
    Ok(judge(&prepared, &observation, timeouts, server.version()))
}

/// `migcheck bench`: the set loaded and guarded like any other, measured
/// on each asked major, and judged by `checks::bench`.
pub fn bench(options: &crate::bench::Options) -> Result<crate::bench::BenchReport, crate::Error> {
    let scenario = Scenario::ad_hoc(&options.migrations, options.format);
    let prepared = prepare(&scenario, &[], SandboxChoice::Template)?;
    let mut report = crate::bench::run(&prepared.set, options)?;
    report.findings =
        crate::checks::bench::findings(&report.set, &report.runs, &options.thresholds);
    Ok(report)
}

/// `migcheck lint`: the static checks alone, without a server, for the
/// scenario's runner.
pub fn lint(scenario: &Scenario) -> Result<ScenarioResult, crate::Error> {
    let set = MigrationSet::load(&scenario.migrations, scenario.format)?;
    let mut scenario = scenario.clone();
    scenario.follow_format(set.format);
    let scenario = &scenario;
    let known = prepare::known_states(scenario, &set);
    let premises = crate::lint::Premises {
        runner: scenario.runner,
        known: &known,
    };
    let linted = crate::lint::lint_with_predictions(&set, premises)?;
    let mut findings: Vec<_> = linted.linted.into_iter().map(|l| l.finding).collect();
    for finding in &mut findings {
        finding.scenario = scenario.id.clone();
    }
    Ok(ScenarioResult {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        set: Some(crate::report::SetSummary::of(&set)),
        postgres: String::new(),
        sandbox: None,
        sandbox_reason: None,
        runner: Some(scenario.runner_reason()),
        checks: vec![Check::Lint],
        not_run: Vec::new(),
        cases: 0,
        findings,
        notes: linted
            .notes
            .into_iter()
            .chain(set.migrations.iter().flat_map(|m| m.up.unanalysed()))
            .collect(),
        opt_outs: Vec::new(),
        migrations: Some(scenario.migrations.clone()),
        kept: None,
    })
}
