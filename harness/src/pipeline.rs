//! The pipeline: the one way from a scenario to its result, which every
//! command takes (verify, check, the suite, fuzz, bench, snapshot and diff,
//! the self-test).
//!
//! 1. [`prepare`]: load the set, refuse what acts outside migcheck's own
//!    databases (`guard`), check that the versions and names the scenario
//!    uses exist, lint (with the states its findings predict, added as
//!    legacy states), and choose the sandbox. No server.
//! 2. [`observe`]: run what the checks need in sandboxes on a server
//!    (`observe`). No judgement.
//! 3. `judge`: pure, from the observation to findings.
//!
//! `postgres::for_each_major` starts one server per asked major version;
//! a command runs its async work on one `crate::runtime()`.

use crate::finding::Check;
use crate::lint::{self, Linted};
use crate::migrations::{MigrationSet, MigrationsError, Script};
use crate::observe::{self, Observation};
use crate::postgres::Server;
use crate::report::ScenarioResult;
use crate::runner::{RunnerMode, VERSION_TABLE};
use crate::sandbox::{self, Choice, SandboxChoice, Sandboxes, Timeouts};
use crate::scenario::{LegacyState, Scenario};

/// A scenario ready to observe: everything known before a server runs.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The scenario, with the legacy states lint predicts added.
    pub scenario: Scenario,
    pub set: MigrationSet,
    /// Lint's findings that the scenario does not `ignore`, each with the
    /// index in `scenario.legacy` of the state that would confirm it.
    pub linted: Vec<(Linted, Option<usize>)>,
    pub sandbox: Choice,
    pub checks: Vec<Check>,
}

/// Step 1: loads, guards, validates and lints `scenario`, and chooses its
/// sandbox. `checks` decide what is prepared: lint runs for `lint`, and for
/// `converge`, which upgrades from the states lint predicts.
pub fn prepare(
    scenario: &Scenario,
    checks: &[Check],
    choice: SandboxChoice,
) -> Result<Prepared, crate::Error> {
    let in_scenario = |source| crate::Error::Scenario {
        id: scenario.id.clone(),
        source: Box::new(source),
    };
    let set = MigrationSet::load(&scenario.migrations, scenario.format)
        .map_err(|e| in_scenario(e.into()))?;
    // Before anything runs: statements that would act outside migcheck's
    // own databases.
    let scripts = set
        .migrations
        .iter()
        .flat_map(|m| std::iter::once(&m.up).chain(&m.down))
        .chain(scenario.legacy.iter().filter_map(|l| l.sql.as_ref()))
        .chain(scenario.seed.iter().map(|s| &s.sql));
    for script in scripts {
        crate::guard::check(script).map_err(|e| in_scenario(e.into()))?;
    }
    validate_names(scenario, &set).map_err(in_scenario)?;

    // Lint is cheap and static; converge needs its predictions even when
    // its findings are not asked for.
    let mut linted = if checks.contains(&Check::Lint) || checks.contains(&Check::Converge) {
        lint::lint_with_predictions(&set).map_err(|e| in_scenario(e.into()))?
    } else {
        Vec::new()
    };
    // Findings the scenario accepts (`ignore:`) go, with their predictions.
    linted.retain(|l| !scenario.ignore.iter().any(|i| i.matches(&l.finding)));
    // The states lint predicts will fail are upgraded from too, so the
    // converge check covers them even when no scenario wrote them.
    let mut scenario = scenario.clone();
    let mut keyed = Vec::new();
    for l in linted {
        let state = match (&l.prediction, checks.contains(&Check::Converge)) {
            (Some(prediction), true) => {
                let state = predicted_state(&set, scenario.runner, prediction)
                    .map_err(|e| in_scenario(e.into()))?;
                let index = match scenario.legacy.iter().position(|s| s.name == state.name) {
                    Some(index) => index,
                    None => {
                        scenario.legacy.push(state);
                        scenario.legacy.len() - 1
                    }
                };
                Some(index)
            }
            _ => None,
        };
        keyed.push((l, state));
    }

    let statements = set
        .migrations
        .iter()
        .flat_map(|m| m.up.statements.iter().map(|s| (m.name.as_str(), s)))
        .chain(scenario.legacy.iter().flat_map(|l| {
            l.sql
                .iter()
                .flat_map(|script| script.statements.iter().map(|s| (l.origin.as_str(), s)))
        }));
    let sandbox = sandbox::choose(choice, statements).map_err(|e| in_scenario(e.into()))?;
    Ok(Prepared {
        scenario,
        set,
        linted: keyed,
        sandbox,
        checks: checks.to_vec(),
    })
}

/// Every version and migration name the scenario uses exists in the set.
fn validate_names(scenario: &Scenario, set: &MigrationSet) -> Result<(), crate::Error> {
    for state in &scenario.legacy {
        if let Some(version) = &state.upto {
            set.prefix_len(version)?;
        }
    }
    for seed in &scenario.seed {
        set.prefix_len(&seed.before)?;
    }
    let exempt = scenario.irreversible.iter().chain(&scenario.not_atomic);
    for o in exempt {
        if !set.migrations.iter().any(|m| m.name == o.migration) {
            return Err(crate::Error::UnknownOptOutMigration {
                name: o.migration.clone(),
                known: set.names(),
            });
        }
    }
    let groups = scenario
        .merge
        .iter()
        .flat_map(|g| g.branch.iter().chain(&g.main));
    for name in groups {
        if !set.migrations.iter().any(|m| &m.name == name) {
            return Err(crate::Error::UnknownBranchMigration {
                name: name.clone(),
                known: set.names(),
            });
        }
    }
    Ok(())
}

/// The legacy state a lint prediction describes: the set up to the
/// migration that uses the column, then the column dropped (with what
/// depends on it) and, for a tracked runner, that migration unrecorded, so
/// that it runs again on a table that lacks the column.
fn predicted_state(
    set: &MigrationSet,
    runner: RunnerMode,
    prediction: &lint::Prediction,
) -> Result<LegacyState, MigrationsError> {
    let migration = &set.migrations[prediction.migration];
    let mut sql = format!(
        "ALTER TABLE {}.{} DROP COLUMN {} CASCADE;\n",
        crate::sql::ident(&prediction.schema),
        crate::sql::ident(&prediction.table),
        crate::sql::ident(&prediction.column)
    );
    if runner == RunnerMode::Tracked {
        sql.push_str(&format!(
            "DELETE FROM {VERSION_TABLE} WHERE version = {};\n",
            crate::sql::literal(&migration.version)
        ));
    }
    let name = format!(
        "{} without {} (predicted by lint)",
        prediction.table, prediction.column
    );
    let origin = format!("lint's prediction `{name}`");
    Ok(LegacyState {
        name,
        upto: Some(migration.version.clone()),
        sql: Some(Script::parse(std::path::Path::new(&origin), sql)?),
        origin,
        predicted: true,
    })
}

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
    let mut sandboxes = Sandboxes::new(server, prepared.sandbox.strategy, timeouts);
    let observed = observe::observe(
        &mut sandboxes,
        &prepared.scenario,
        &prepared.set,
        &prepared.checks,
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
    Ok(crate::judge::judge(
        &prepared,
        &observation,
        timeouts,
        server.version(),
    ))
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

/// `migcheck lint`: the static checks alone, without a server.
pub fn lint(scenario: &Scenario) -> Result<ScenarioResult, crate::Error> {
    let set = MigrationSet::load(&scenario.migrations, scenario.format)?;
    let mut findings = lint::lint(&set)?;
    for finding in &mut findings {
        finding.scenario = scenario.id.clone();
    }
    Ok(ScenarioResult {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        postgres: String::new(),
        sandbox: None,
        sandbox_reason: None,
        checks: vec![Check::Lint],
        cases: 0,
        findings,
        notes: Vec::new(),
        opt_outs: Vec::new(),
        migrations: Some(scenario.migrations.clone()),
        kept: None,
    })
}
