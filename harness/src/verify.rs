//! Verify: runs scenarios on a server, applies the checks, and settles the
//! findings against what each scenario expects. The one place that ties
//! postgres, sandboxes, observations and checks together.

use std::time::Instant;

use crate::checks;
use crate::finding::{Check, Finding, Kind};
use crate::lint;
use crate::migrations::MigrationSet;
use crate::migrations::Script;
use crate::observe::observe;
use crate::postgres::{PgSpec, Server};
use crate::report::{OptOutNote, Report, ScenarioResult};
use crate::runner::{RunnerMode, VERSION_TABLE};
use crate::sandbox::{self, SandboxChoice, Sandboxes, Timeouts};
use crate::scenario::{ExpectedFinding, LegacyState, Scenario};

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
    /// and say in the scenario's notes how to connect (`--keep-failed`).
    pub keep_failed: bool,
    /// Called before each scenario with (number, total, "id (postgres N)"):
    /// the command line prints progress with it on a terminal.
    pub progress: Option<fn(usize, usize, &str)>,
}

/// Runs every scenario, in order, on one server per asked major version
/// (the version matrix), one version after the other.
pub fn run(scenarios: &[Scenario], options: &Options) -> Result<Report, crate::Error> {
    let started = Instant::now();
    let majors: Vec<Option<u32>> = match options.pg_versions.as_slice() {
        [] => vec![None],
        majors => majors.iter().copied().map(Some).collect(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(crate::Error::Runtime)?;
    let total = scenarios.len() * majors.len();
    let mut results = Vec::new();
    let mut postgres = Vec::new();
    let mut backends: Vec<String> = Vec::new();
    for major in majors {
        if scenarios.is_empty() {
            break;
        }
        // Started outside the runtime: the container backend blocks on
        // one of its own.
        let server = Server::start(&options.pg, major)?;
        for scenario in scenarios {
            if let Some(progress) = options.progress {
                let what = format!("{} (postgres {})", scenario.id, server.version());
                progress(results.len() + 1, total, &what);
            }
            results.push(runtime.block_on(run_scenario_with(
                &server,
                scenario,
                &options.checks,
                options.sandbox,
                options.timeouts,
            ))?);
        }
        let first = results.len() - scenarios.len();
        let mut kept = false;
        for (scenario, result) in scenarios.iter().zip(&mut results[first..]) {
            let Some(finding) = result.findings.iter().find(|f| f.fails_run()) else {
                continue;
            };
            if !options.keep_failed {
                continue;
            }
            let finding = finding.clone();
            let database = runtime.block_on(crate::keep::keep_case(
                &server,
                scenario,
                &finding,
                options.timeouts,
            ))?;
            let state = finding
                .legacy_state
                .as_ref()
                .map(|s| format!(" from legacy state \"{s}\""))
                .unwrap_or_default();
            result.notes.push(format!(
                "kept: the database of this failing case ({}{state}): {}",
                finding.kind,
                server.psql_command(&database)
            ));
            kept = true;
        }
        postgres.push(server.version().to_string());
        let backend = format!("{} {}", server.backend(), server.location());
        if !backends.contains(&backend) {
            backends.push(backend);
        }
        if kept {
            let remove = server.keep();
            for result in &mut results[first..] {
                if result.notes.iter().any(|n| n.starts_with("kept: ")) {
                    result.notes.push(format!(
                        "kept: the server stays up; remove it with: {remove}"
                    ));
                }
            }
        }
    }
    Ok(Report {
        scenarios: results,
        postgres,
        backend: backends.join(", "),
        duration: started.elapsed(),
    })
}

/// Runs `checks` of one scenario on `server`, with the default timeouts.
pub async fn run_scenario(
    server: &Server,
    scenario: &Scenario,
    checks: &[Check],
    choice: SandboxChoice,
) -> Result<ScenarioResult, crate::Error> {
    run_scenario_with(server, scenario, checks, choice, Timeouts::default()).await
}

/// Runs `checks` of one scenario on `server`, each statement of the
/// migrations limited by `timeouts`.
pub async fn run_scenario_with(
    server: &Server,
    scenario: &Scenario,
    checks: &[Check],
    choice: SandboxChoice,
    timeouts: Timeouts,
) -> Result<ScenarioResult, crate::Error> {
    let in_scenario = |source| crate::Error::Scenario {
        id: scenario.id.clone(),
        source: Box::new(source),
    };
    let set = MigrationSet::load(&scenario.migrations, scenario.format)
        .map_err(|e| in_scenario(crate::Error::Migrations(e)))?;
    // Before anything runs: statements that would act outside migcheck's
    // own databases.
    let scripts = set
        .migrations
        .iter()
        .flat_map(|m| std::iter::once(&m.up).chain(&m.down))
        .chain(scenario.legacy.iter().filter_map(|l| l.sql.as_ref()));
    for script in scripts {
        crate::guard::check(script).map_err(|e| in_scenario(e.into()))?;
    }
    for state in &scenario.legacy {
        if let Some(version) = &state.upto {
            set.prefix_len(version)
                .map_err(|e| in_scenario(crate::Error::Migrations(e)))?;
        }
    }
    for seed in &scenario.seed {
        set.prefix_len(&seed.before)
            .map_err(|e| in_scenario(crate::Error::Migrations(e)))?;
    }
    let exempt = scenario.irreversible.iter().chain(&scenario.not_atomic);
    for o in exempt {
        if !set.migrations.iter().any(|m| m.name == o.migration) {
            return Err(in_scenario(crate::Error::UnknownOptOutMigration {
                name: o.migration.clone(),
                known: set.names(),
            }));
        }
    }
    let groups = scenario
        .merge
        .iter()
        .flat_map(|g| g.branch.iter().chain(&g.main));
    for name in groups {
        if !set.migrations.iter().any(|m| &m.name == name) {
            return Err(in_scenario(crate::Error::UnknownBranchMigration {
                name: name.clone(),
                known: set.names(),
            }));
        }
    }
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
    if checks.contains(&Check::Converge) {
        for prediction in linted.iter().filter_map(|l| l.prediction.as_ref()) {
            let state = predicted_state(&set, scenario.runner, prediction)
                .map_err(|e| in_scenario(e.into()))?;
            if !scenario.legacy.iter().any(|l| l.name == state.name) {
                scenario.legacy.push(state);
            }
        }
    }
    let scenario = &scenario;

    let statements = set
        .migrations
        .iter()
        .flat_map(|m| m.up.statements.iter().map(|s| (m.name.as_str(), s)))
        .chain(scenario.legacy.iter().flat_map(|l| {
            l.sql
                .iter()
                .flat_map(|script| script.statements.iter().map(|s| (l.origin.as_str(), s)))
        }));
    let choice = sandbox::choose(choice, statements).map_err(|e| in_scenario(e.into()))?;

    let mut sandboxes = Sandboxes::new(server, choice.strategy, timeouts);
    let observed = observe(&mut sandboxes, scenario, &set, checks).await;
    // Drop the sandbox databases even when observing failed.
    let shut = sandboxes.shutdown().await;
    let observation = observed.map_err(|e| in_scenario(e.into()))?;
    shut.map_err(|e| in_scenario(e.into()))?;

    if checks.contains(&Check::Converge) {
        for l in &mut linted {
            if let Some(prediction) = &l.prediction {
                let verdict = verdict(prediction, &set, &observation);
                l.finding.message.push_str(&format!("; {verdict}"));
            }
        }
    }
    let lint_findings = match checks.contains(&Check::Lint) {
        true => linted.into_iter().map(|l| l.finding).collect(),
        false => Vec::new(),
    };
    let mut findings: Vec<Finding> = checks
        .iter()
        .flat_map(|check| checks::run(*check, &observation, scenario))
        .chain(lint_findings)
        .collect();
    mark_timeouts(&mut findings, timeouts);
    settle(&mut findings, &scenario.expect_findings, checks);
    for finding in &mut findings {
        finding.scenario = scenario.id.clone();
        finding.postgres = server.version().to_string();
    }
    Ok(ScenarioResult {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        postgres: server.version().to_string(),
        sandbox: Some(choice.strategy),
        sandbox_reason: choice.reason,
        checks: checks.to_vec(),
        cases: observation.cases,
        findings,
        notes: notes(&observation),
        opt_outs: opt_outs(scenario),
        migrations: Some(scenario.migrations.clone()),
    })
}

/// What the rollback and faults checks did, or could not do.
fn notes(observation: &crate::observe::Observation) -> Vec<String> {
    use crate::observe::faults::Interruption;
    use crate::observe::rollback::Down;
    let mut notes = Vec::new();
    if let Some(rollback) = &observation.rollback {
        let missing: Vec<&str> = rollback
            .steps
            .iter()
            .filter(|s| matches!(s.down, Down::Missing))
            .map(|s| s.migration.as_str())
            .collect();
        let ran = rollback
            .steps
            .iter()
            .filter(|s| matches!(s.down, Down::Ran { .. }))
            .count();
        if !rollback.steps.is_empty() && missing.len() == rollback.steps.len() {
            notes.push(
                "rollback: no downs: the set has no down migrations, so nothing was rolled back (rows were still checked after each up)"
                    .to_string(),
            );
        } else {
            let mut note = format!(
                "rollback: {ran} migration{} rolled back and applied again",
                plural(ran)
            );
            if !missing.is_empty() {
                note.push_str(&format!("; no down for {}", missing.join(", ")));
            }
            notes.push(note);
        }
        notes.extend(rollback.notes.iter().map(|n| format!("rollback: {n}")));
        if let Some(why) = &rollback.stopped {
            notes.push(format!("rollback: stopped early: {why}"));
        }
    }
    if let Some(faults) = &observation.faults {
        let count = |how| faults.paths.iter().filter(|p| p.how == how).count();
        let (errors, cancels, kills) = (
            count(Interruption::Error),
            count(Interruption::Cancel),
            count(Interruption::Terminate),
        );
        let mut note = format!(
            "faults: {} injected path{} ({errors} failed statement{}, {cancels} cancelled, {kills} killed connection{}), {} deploy{} after them",
            faults.paths.len(),
            plural(faults.paths.len()),
            plural(errors),
            plural(kills),
            faults.recoveries,
            plural(faults.recoveries)
        );
        if let Some(why) = &faults.recovery_skipped {
            note.push_str(&format!(
                "; no deploy after an interruption was judged: {why}"
            ));
        }
        notes.push(note);
    }
    notes
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The scenario's exemptions, listed whichever checks ran.
fn opt_outs(scenario: &Scenario) -> Vec<OptOutNote> {
    let lists = [
        ("irreversible", Check::Rollback, &scenario.irreversible),
        ("not-atomic", Check::Faults, &scenario.not_atomic),
    ];
    lists
        .into_iter()
        .flat_map(|(kind, check, list)| {
            list.iter().map(move |o| OptOutNote {
                kind,
                check,
                migration: o.migration.clone(),
                reason: o.reason.clone(),
            })
        })
        .collect()
}

/// `migcheck lint`: the static checks alone, without a server.
pub fn lint_only(scenario: &Scenario) -> Result<ScenarioResult, crate::Error> {
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
    })
}

/// The legacy state a lint prediction describes: the set up to the
/// migration that uses the column, then the column dropped (with what
/// depends on it) and, for a tracked runner, that migration unrecorded, so
/// that it runs again on a table that lacks the column.
fn predicted_state(
    set: &MigrationSet,
    runner: RunnerMode,
    prediction: &lint::Prediction,
) -> Result<LegacyState, crate::migrations::MigrationsError> {
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
    let name = predicted_name(prediction);
    let origin = format!("lint's prediction `{name}`");
    Ok(LegacyState {
        name,
        upto: Some(migration.version.clone()),
        sql: Some(Script::parse(std::path::Path::new(&origin), sql)?),
        origin,
        predicted: true,
    })
}

fn predicted_name(prediction: &lint::Prediction) -> String {
    format!(
        "{} without {} (predicted by lint)",
        prediction.table, prediction.column
    )
}

/// Whether running the set from the state `prediction` describes failed
/// as predicted.
fn verdict(
    prediction: &lint::Prediction,
    set: &MigrationSet,
    observation: &crate::observe::Observation,
) -> String {
    let (table, column) = (&prediction.table, &prediction.column);
    let name = predicted_name(prediction);
    let outcome = observation.legacy.iter().find(|l| l.state == name);
    match outcome.map(|l| l.outcome.errors.first()) {
        Some(Some(error)) => format!(
            "confirmed: from a database where {table} lacks {column}, {}:{} fails: {} (SQLSTATE {})",
            error.migration,
            error.line,
            error.message,
            error.sqlstate.as_deref().unwrap_or("-")
        ),
        Some(None) => {
            format!("not reproduced: the set applies from a database where {table} lacks {column}")
        }
        None => format!(
            "not reproduced: a database where {table} lacks {column} could not be built from {}",
            set.migrations[prediction.migration].name
        ),
    }
}

/// A statement the server cancelled for running or waiting too long is a
/// `timeout` finding, whichever check saw it fail (it keeps that check).
fn mark_timeouts(findings: &mut [Finding], timeouts: Timeouts) {
    for finding in findings {
        let limit = match finding.sqlstate.as_deref() {
            Some("57014") if finding.message.contains("statement timeout") => {
                format!(
                    "statement_timeout {} ms; raise it with --statement-timeout",
                    timeouts.statement.as_millis()
                )
            }
            Some("55P03") if finding.message.contains("lock timeout") => {
                format!(
                    "lock_timeout {} ms; raise it with --lock-timeout",
                    timeouts.lock.as_millis()
                )
            }
            _ => continue,
        };
        finding.kind = Kind::Timeout;
        finding.message.push_str(&format!(" ({limit})"));
    }
}

/// Marks the findings a scenario pins as expected, and adds an
/// `expected-not-found` finding for each pinned one (of a check that ran)
/// that did not happen.
fn settle(findings: &mut Vec<Finding>, expected: &[ExpectedFinding], checks: &[Check]) {
    for finding in findings.iter_mut() {
        finding.expected = expected.iter().any(|e| e.matches(finding));
    }
    for pinned in expected {
        let ran = pinned.kind.check().is_none_or(|c| checks.contains(&c));
        if ran && !findings.iter().any(|f| pinned.matches(f)) {
            let mut at = String::new();
            if let Some(m) = &pinned.migration {
                at = format!(" in {m}");
                if let Some(line) = pinned.line {
                    at.push_str(&format!(":{line}"));
                }
            }
            if let Some(state) = &pinned.legacy_state {
                at.push_str(&format!(" from legacy state \"{state}\""));
            }
            findings.push(Finding {
                check: pinned.kind.check(),
                ..Finding::new(
                    Kind::ExpectedNotFound,
                    format!(
                        "the scenario expects a {} finding{at}, but none happened; if the bug is fixed, move the scenario to ok/ and drop expect_findings",
                        pinned.kind
                    ),
                )
            });
        }
    }
}
