//! Observations: runs a scenario's migration set in sandboxes (fresh, again,
//! from each legacy state and from every earlier version) and records what
//! happened: errors, snapshots and table data. It judges nothing; `checks`
//! turns observations into findings.

use sha2::{Digest, Sha256};

use crate::data::TableData;
use crate::finding::Check;
use crate::migrations::{Migration, MigrationSet};
use crate::runner::{self, ApplyError, Runner, RunnerMode, TxMode};
use crate::sandbox::{Sandbox, SandboxError, Sandboxes, Strategy};
use crate::scenario::{LegacyState, MergeGroups, Scenario};
use crate::schema::{self, Snapshot};

/// The state after one application of the set.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Failing statements: at most one for a run of the set (it stops
    /// there); one per unsafe migration when a tracked runner's bodies are
    /// re-executed.
    pub errors: Vec<ApplyError>,
    /// The schema at the end, when nothing failed.
    pub snapshot: Option<Snapshot>,
    pub data: Option<TableData>,
}

#[derive(Debug, Clone)]
pub struct LegacyOutcome {
    pub state: String,
    pub outcome: Outcome,
}

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct Observation {
    pub fresh: Outcome,
    /// The set applied a second time on top of `fresh` (`rerun-all`), or
    /// each migration's body re-executed (`tracked`).
    pub rerun: Option<Outcome>,
    /// The scenario's legacy states, then "deployed at <version>" for every
    /// earlier version of the set.
    pub legacy: Vec<LegacyOutcome>,
    /// The set in both merge orders (main first, branch first), when the
    /// scenario names a merge.
    pub merge: Option<Vec<MergeOutcome>>,
    /// Each migration's up, down and up again (`rollback`).
    pub rollback: Option<crate::rollback::RollbackObservation>,
    /// A fault at every statement boundary (`faults`).
    pub faults: Option<crate::faults::FaultsObservation>,
    /// Sandboxes used, for the report's case count.
    pub cases: usize,
}

#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// Migration names in the order applied.
    pub order: Vec<String>,
    pub outcome: Outcome,
}

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Runner(#[from] runner::RunnerError),
    #[error("reading the schema failed")]
    Schema(#[from] schema::SchemaError),
    #[error("reading table data failed: {}", crate::sandbox::db_message(.0))]
    Data(#[from] tokio_postgres::Error),
    #[error("legacy state `{state}`")]
    Upto {
        state: String,
        source: crate::migrations::MigrationsError,
    },
    #[error(
        "{origin}: {}:{}: {} (SQLSTATE {}); fix the scenario's seed SQL",
        error.migration, error.line, error.message, error.sqlstate.as_deref().unwrap_or("-")
    )]
    Seed {
        origin: String,
        error: Box<ApplyError>,
    },
    #[error(
        "legacy state `{state}` could not be set up: {origin}: {}:{}: {} (SQLSTATE {}); fix the legacy state's SQL",
        error.migration, error.line, error.message, error.sqlstate.as_deref().unwrap_or("-")
    )]
    Legacy {
        state: String,
        origin: String,
        error: Box<ApplyError>,
    },
}

/// Runs what `checks` need: the fresh install always; the rerun for
/// `rerun`; every legacy state, and every earlier version when
/// `scenario.history` is on, for `converge` and `expect`.
pub async fn observe(
    sandboxes: &mut Sandboxes<'_>,
    scenario: &Scenario,
    set: &MigrationSet,
    checks: &[Check],
) -> Result<Observation, ObserveError> {
    let runner = Runner {
        mode: scenario.runner,
        tx: scenario.tx,
    };
    let all = &set.migrations;
    let mut cases = 1;
    let sandbox = sandboxes.open().await?;
    let fresh = apply(&sandbox, runner, all).await?;
    let rerun = if checks.contains(&Check::Rerun) && fresh.errors.is_empty() {
        cases += 1;
        Some(match runner.mode {
            RunnerMode::RerunAll => apply(&sandbox, runner, all).await?,
            RunnerMode::Tracked => {
                let errors = runner
                    .reexecute_each(sandbox.client(), all, sandbox.nesting())
                    .await?;
                read(&sandbox, errors).await?
            }
        })
    } else {
        None
    };
    sandboxes.close(sandbox).await?;

    let mut legacy = Vec::new();
    let wants_legacy = checks.contains(&Check::Converge) || checks.contains(&Check::Expect);
    // When the fresh install fails there is nothing to converge to.
    if wants_legacy && fresh.errors.is_empty() {
        for state in &scenario.legacy {
            cases += 1;
            let outcome = match from_legacy(sandboxes, runner, set, state).await {
                Ok(outcome) => outcome,
                // A state lint predicted may not be buildable (the column is
                // part of a key); the lint finding then says "not reproduced".
                Err(ObserveError::Legacy { .. }) if state.predicted => continue,
                Err(e) => return Err(e),
            };
            legacy.push(LegacyOutcome {
                state: state.name.clone(),
                outcome,
            });
        }
        if scenario.history {
            let history = from_every_version(sandboxes, runner, scenario, set).await?;
            cases += history.len();
            legacy.extend(history);
        }
    }
    let mut merge = None;
    let orders = scenario
        .merge
        .as_ref()
        .and_then(|groups| merge_orders(all, groups));
    if let (true, true, Some(orders)) = (
        checks.contains(&Check::Merge),
        fresh.errors.is_empty(),
        orders,
    ) {
        let mut outcomes = Vec::new();
        for order in orders {
            let names = order.iter().map(|&i| all[i].name.clone()).collect();
            // Usually one of the orders is version order: the fresh install.
            if order.iter().copied().eq(0..all.len()) {
                outcomes.push(MergeOutcome {
                    order: names,
                    outcome: fresh.clone(),
                });
                continue;
            }
            cases += 1;
            let sandbox = sandboxes.open().await?;
            let migrations: Vec<Migration> = order.iter().map(|&i| all[i].clone()).collect();
            let outcome = apply(&sandbox, runner, &migrations).await;
            sandboxes.close(sandbox).await?;
            outcomes.push(MergeOutcome {
                order: names,
                outcome: outcome?,
            });
        }
        merge = Some(outcomes);
    }
    // Rollback and faults judge migrations that apply; when the fresh
    // install fails, `fresh` says so.
    let applies = fresh.errors.is_empty();
    let rollback = match checks.contains(&Check::Rollback) && applies {
        true => {
            cases += 1;
            Some(crate::rollback::observe(sandboxes, scenario, set).await?)
        }
        false => None,
    };
    let faults = match checks.contains(&Check::Faults) && applies {
        true => {
            let faults = crate::faults::observe(sandboxes, scenario, set).await?;
            cases += faults.paths.len();
            Some(faults)
        }
        false => None,
    };
    Ok(Observation {
        fresh,
        rerun,
        legacy,
        merge,
        rollback,
        faults,
        cases,
    })
}

/// The two orders of a merge: the migrations of neither group in version
/// order, then one group and the other (each group in version order), main
/// first and branch first. `None` when the branch is empty.
fn merge_orders(all: &[Migration], groups: &MergeGroups) -> Option<[Vec<usize>; 2]> {
    let index = |name: &String| all.iter().position(|m| &m.name == name);
    let mut branch: Vec<usize> = groups.branch.iter().filter_map(index).collect();
    branch.sort_unstable();
    let first = *branch.first()?;
    let mut main: Vec<usize> = groups.main.iter().filter_map(index).collect();
    if main.is_empty() {
        // Not told: the others that sort after the branch's first migration.
        main = (first..all.len()).filter(|i| !branch.contains(i)).collect();
    }
    main.sort_unstable();
    let base: Vec<usize> = (0..all.len())
        .filter(|i| !branch.contains(i) && !main.contains(i))
        .collect();
    let order = |a: &[usize], b: &[usize]| base.iter().chain(a).chain(b).copied().collect();
    Some([order(&main, &branch), order(&branch, &main)])
}

/// The set applied from one legacy state: the set up to a version (a
/// clone of a cached prefix for template sandboxes), then the state's SQL.
async fn from_legacy(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    set: &MigrationSet,
    state: &LegacyState,
) -> Result<Outcome, ObserveError> {
    let failed = |error| ObserveError::Legacy {
        state: state.name.clone(),
        origin: state.origin.clone(),
        error: Box::new(error),
    };
    let prefix = match &state.upto {
        Some(version) => set
            .prefix_len(version)
            .map_err(|source| ObserveError::Upto {
                state: state.name.clone(),
                source,
            })?,
        None => 0,
    };
    let sandbox = match prefix_sandbox(sandboxes, runner, &set.migrations[..prefix]).await? {
        Ok(sandbox) => sandbox,
        Err(error) => return Err(failed(error)),
    };
    let result = async {
        if let Some(script) = &state.sql {
            let migration = Migration {
                version: String::new(),
                name: format!("legacy state `{}`", state.name),
                path: state.origin.clone().into(),
                up: script.clone(),
                down: None,
                transaction: script.fits_in_transaction(),
            };
            // Legacy SQL is put in place by hand, not by the application's runner.
            let by_hand = Runner {
                mode: RunnerMode::RerunAll,
                tx: TxMode::PerFile,
            };
            if let Some(error) = by_hand
                .apply(sandbox.client(), &[migration], sandbox.nesting())
                .await?
            {
                return Err(failed(error));
            }
        }
        apply(&sandbox, runner, &set.migrations).await
    }
    .await;
    sandboxes.close(sandbox).await?;
    result
}

/// A sandbox holding `prefix` applied. Template sandboxes clone a database
/// kept per prefix (keyed by a hash of its content), building only the
/// missing steps; a transaction sandbox applies the prefix.
pub(crate) async fn prefix_sandbox(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    prefix: &[Migration],
) -> Result<Result<Sandbox, ApplyError>, ObserveError> {
    if prefix.is_empty() {
        return Ok(Ok(sandboxes.open().await?));
    }
    if sandboxes.strategy() == Strategy::Transaction {
        let sandbox = sandboxes.open().await?;
        return match runner
            .apply(sandbox.client(), prefix, sandbox.nesting())
            .await?
        {
            None => Ok(Ok(sandbox)),
            Some(error) => {
                sandboxes.close(sandbox).await?;
                Ok(Err(error))
            }
        };
    }
    let keys: Vec<String> = (1..=prefix.len())
        .map(|k| prefix_key(runner, &prefix[..k]))
        .collect();
    // The longest prefix already built, then one clone and one migration
    // for each step after it.
    let built = (1..=prefix.len())
        .rev()
        .find(|&k| sandboxes.kept(&keys[k - 1]).is_some());
    let mut k = built.unwrap_or(0);
    while k < prefix.len() {
        let sandbox = match k {
            0 => sandboxes.open().await?,
            _ => {
                let template = sandboxes.kept(&keys[k - 1]).unwrap_or_default().to_string();
                sandboxes.open_from(&template).await?
            }
        };
        let error = step(runner, &sandbox, prefix, k).await?;
        if let Some(error) = error {
            sandboxes.close(sandbox).await?;
            return Ok(Err(error));
        }
        sandboxes.keep(sandbox, keys[k].clone()).await;
        k += 1;
    }
    let template = sandboxes.kept(&keys[k - 1]).unwrap_or_default().to_string();
    Ok(Ok(sandboxes.open_from(&template).await?))
}

/// Deploys version k+1 on a database at version k: a tracked runner runs
/// the pending migration; a rerun-all start at version k+1 re-runs 1..k
/// too, which leaves version k unchanged when they are idempotent (and the
/// rerun check reports them when they are not).
pub(crate) async fn step(
    runner: Runner,
    sandbox: &Sandbox,
    migrations: &[Migration],
    k: usize,
) -> Result<Option<ApplyError>, ObserveError> {
    let run = match runner.mode {
        RunnerMode::Tracked => &migrations[..=k],
        RunnerMode::RerunAll => &migrations[k..=k],
    };
    Ok(runner
        .apply(sandbox.client(), run, sandbox.nesting())
        .await?)
}

fn prefix_key(runner: Runner, prefix: &[Migration]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{:?} {:?}", runner.mode, runner.tx));
    for migration in prefix {
        hash.update([0]);
        hash.update(&migration.name);
        hash.update([0]);
        hash.update(&migration.up.sql);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// "deployed at <version>" for every version before the last: upgrading
/// from any earlier release must end like a fresh install. Versions a
/// scenario already names with `upto` are skipped.
async fn from_every_version(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    scenario: &Scenario,
    set: &MigrationSet,
) -> Result<Vec<LegacyOutcome>, ObserveError> {
    let all = &set.migrations;
    let named: Vec<usize> = scenario
        .legacy
        .iter()
        .filter(|s| s.sql.is_none())
        .filter_map(|s| set.prefix_len(s.upto.as_deref()?).ok())
        .collect();
    let mut outcomes = Vec::new();
    if sandboxes.strategy() == Strategy::Transaction {
        // One transaction: deploy version k, try the upgrade under a
        // savepoint, roll back to version k, deploy k+1: each earlier
        // version costs one migration.
        let sandbox = sandboxes.open().await?;
        let result = async {
            for k in 0..all.len().saturating_sub(1) {
                if step(runner, &sandbox, all, k).await?.is_some() {
                    // The fresh install applied; a failure here is the
                    // rerun's or the fresh check's to report.
                    break;
                }
                if named.contains(&(k + 1)) {
                    continue;
                }
                sandbox
                    .client()
                    .batch_execute("SAVEPOINT migcheck_history")
                    .await?;
                let outcome = apply(&sandbox, runner, all).await?;
                sandbox
                    .client()
                    .batch_execute("ROLLBACK TO SAVEPOINT migcheck_history")
                    .await?;
                outcomes.push(LegacyOutcome {
                    state: deployed_at(&all[k]),
                    outcome,
                });
            }
            Ok::<_, ObserveError>(())
        }
        .await;
        sandboxes.close(sandbox).await?;
        result?;
        return Ok(outcomes);
    }
    for k in 1..all.len() {
        if named.contains(&k) {
            continue;
        }
        let sandbox = match prefix_sandbox(sandboxes, runner, &all[..k]).await? {
            Ok(sandbox) => sandbox,
            Err(_) => break,
        };
        let outcome = apply(&sandbox, runner, all).await;
        sandboxes.close(sandbox).await?;
        outcomes.push(LegacyOutcome {
            state: deployed_at(&all[k - 1]),
            outcome: outcome?,
        });
    }
    Ok(outcomes)
}

fn deployed_at(last: &Migration) -> String {
    format!("deployed at {}", last.version)
}

async fn apply(
    sandbox: &Sandbox,
    runner: Runner,
    migrations: &[Migration],
) -> Result<Outcome, ObserveError> {
    let errors: Vec<ApplyError> = runner
        .apply(sandbox.client(), migrations, sandbox.nesting())
        .await?
        .into_iter()
        .collect();
    read(sandbox, errors).await
}

/// The outcome of a run: its errors, and what the database holds when
/// there were none.
async fn read(sandbox: &Sandbox, errors: Vec<ApplyError>) -> Result<Outcome, ObserveError> {
    if !errors.is_empty() {
        return Ok(Outcome {
            errors,
            snapshot: None,
            data: None,
        });
    }
    Ok(Outcome {
        errors,
        snapshot: Some(schema::snapshot(sandbox.client()).await?),
        data: Some(TableData::read(sandbox.client()).await?),
    })
}
