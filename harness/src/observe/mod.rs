//! Observations: runs a scenario's migration set in sandboxes (fresh, again,
//! from each legacy state and from every earlier version) and records what
//! happened: errors, snapshots and table data. It judges nothing; `checks`
//! turns observations into findings.
//!
//! The stages: this module (fresh, rerun, legacy states, history, merge
//! orders), `rollback` (each migration's up, down and up again over seeded
//! rows, `seed`), `faults` (an interruption at every statement) and
//! `locks` (what the migrations under test lock, rewrite and validate on
//! tables that hold rows, also over `seed` rows); each records `Outcome`s
//! (`outcome`) or observations of its own. Stages import `outcome` and
//! `seed`, never this module or each other.

pub mod bodies;
pub mod faults;
pub mod locks;
mod outcome;
pub mod rollback;
pub(crate) mod seed;
mod state;

use crate::finding::Check;
use crate::migrations::{Migration, MigrationSet};
use crate::runner::{Runner, RunnerMode};
use crate::sandbox::Sandboxes;
use crate::scenario::{Deployed, LegacyState, MergeGroups, Scenario, Source};
pub use outcome::{ObserveError, Outcome};
use outcome::{apply, put_legacy_sql};

#[derive(Debug, Clone)]
pub struct LegacyOutcome {
    pub state: String,
    /// The state's index in the scenario's `legacy`; `None` for "deployed
    /// at <version>".
    pub index: Option<usize>,
    pub outcome: Outcome,
}

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct Observation {
    pub fresh: Outcome,
    /// The set applied a second time on top of `fresh`: every file again
    /// (`rerun-all`), or through the version table (`tracked`: nothing to
    /// run is the pass).
    pub rerun: Option<Outcome>,
    /// Each migration's body run again right after itself, bypassing the
    /// version table (`rerun-bodies`, opt-in).
    pub bodies: Option<Vec<bodies::BodyRerun>>,
    /// The scenario's legacy states, then "deployed at <version>" for every
    /// earlier version of the set.
    pub legacy: Vec<LegacyOutcome>,
    /// The set in both merge orders (main first, branch first), when the
    /// scenario names a merge.
    pub merge: Option<Vec<MergeOutcome>>,
    /// Each migration's up, down and up again (`rollback`).
    pub rollback: Option<rollback::RollbackObservation>,
    /// A fault at every statement boundary (`faults`).
    pub faults: Option<faults::FaultsObservation>,
    /// The migrations under test, statement by statement (`locks`).
    pub locks: Option<locks::LocksObservation>,
    /// Sandboxes used, for the report's case count.
    pub cases: usize,
    /// Legacy states that could not be built or were not needed, and why.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// Migration names in the order applied.
    pub order: Vec<String>,
    pub outcome: Outcome,
}

/// Runs what `checks` need: the fresh install always; the rerun for
/// `rerun`; every legacy state, and every earlier version when
/// `scenario.history` is on, for `converge` and `expect`; the migrations
/// at `under_test` for `locks`; the downs of those at `rolled_back` for
/// `rollback`.
pub async fn observe(
    sandboxes: &mut Sandboxes<'_>,
    scenario: &Scenario,
    set: &MigrationSet,
    checks: &[Check],
    under_test: &[usize],
    rolled_back: &[usize],
) -> Result<Observation, ObserveError> {
    let runner = scenario.runner_for(set);
    let all = &set.migrations;
    let mut cases = 1;
    let sandbox = sandboxes.open().await?;
    let fresh = apply(&sandbox, runner, all).await?;
    let rerun = if checks.contains(&Check::Rerun) && fresh.errors.is_empty() {
        cases += 1;
        Some(apply(&sandbox, runner, all).await?)
    } else {
        None
    };
    sandboxes.close(sandbox).await?;
    let bodies = match checks.contains(&Check::RerunBodies) && fresh.errors.is_empty() {
        true => {
            cases += 1;
            Some(bodies::observe(sandboxes, runner, set).await?)
        }
        false => None,
    };

    let mut legacy = Vec::new();
    let mut skipped = Vec::new();
    // `expect` with nothing expected looks at nothing.
    let wants_legacy = checks.contains(&Check::Converge)
        || (checks.contains(&Check::Expect) && !scenario.expect.is_empty());
    // When the fresh install fails there is nothing to converge to.
    if wants_legacy && fresh.errors.is_empty() {
        for (index, state) in scenario.legacy.iter().enumerate() {
            cases += 1;
            let outcome = match from_legacy(sandboxes, runner, set, state).await {
                Ok(outcome) => outcome,
                // A state lint predicted may not be buildable (the column is
                // part of a key); the lint finding then says "not reproduced".
                Err(ObserveError::Legacy { .. }) if state.source == Source::Predicted => continue,
                // A version from git that no longer applies (on this
                // server, say) shows nothing about today's set.
                Err(ObserveError::Legacy { error, .. }) if state.source == Source::Git => {
                    skipped.push(format!(
                        "git history: {} skipped: that version does not apply here: {}:{}: {} (SQLSTATE {})",
                        state.name,
                        error.migration,
                        error.line,
                        error.message,
                        error.sqlstate.as_deref().unwrap_or("-")
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            };
            legacy.push(LegacyOutcome {
                state: state.name.clone(),
                index: Some(index),
                outcome,
            });
        }
        // A tracked runner upgrading from version k runs the statements
        // the fresh install ran after k, on the same schema: the same end
        // by construction. Only rows present at k could change that, and
        // the rollback walk applies every migration over rows.
        if scenario.history && runner.mode == RunnerMode::RerunAll {
            let history = from_every_version(sandboxes, runner, scenario, set).await?;
            cases += history.len();
            legacy.extend(history);
        } else if scenario.history && all.len() > 1 {
            skipped.push(format!(
                "converge: the {} earlier versions of the set were not upgraded from one by one: a tracked runner runs the same statements from each as the fresh install did after it, on the same schema (rows present at each version: see the rollback check, which applies every migration over rows)",
                all.len() - 1
            ));
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
            Some(rollback::observe(sandboxes, scenario, set, rolled_back).await?)
        }
        false => None,
    };
    let faults = match checks.contains(&Check::Faults) && applies {
        true => {
            let faults = faults::observe(sandboxes, scenario, set).await?;
            cases += faults.paths.len();
            Some(faults)
        }
        false => None,
    };
    // The report says the check did not run, and why.
    let locks = match checks.contains(&Check::Locks) && applies {
        true => {
            let locks = locks::observe(sandboxes, scenario, set, under_test).await?;
            cases += locks.cases;
            Some(locks)
        }
        false => None,
    };
    Ok(Observation {
        fresh,
        rerun,
        bodies,
        legacy,
        merge,
        rollback,
        faults,
        locks,
        cases,
        skipped,
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

/// The set applied from one legacy state: the set up to a version, then
/// the state's SQL.
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
    let first: &[Migration] = match (&state.deployed, &state.upto) {
        (Some(Deployed::Set(old)), _) => &old.migrations,
        (_, Some(version)) => {
            let k = set
                .prefix_len(version)
                .map_err(|source| ObserveError::Upto {
                    state: state.name.clone(),
                    source,
                })?;
            &set.migrations[..k]
        }
        _ => &[],
    };
    let sandbox = match sandboxes.fork_at(runner, first).await? {
        Ok(sandbox) => sandbox,
        Err(error) => return Err(failed(error)),
    };
    let result = async {
        if let Some(error) = put_legacy_sql(&sandbox, state).await? {
            return Err(failed(error));
        }
        apply(&sandbox, runner, &set.migrations).await
    }
    .await;
    sandboxes.close(sandbox).await?;
    result
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
    for k in 1..all.len() {
        if named.contains(&k) {
            continue;
        }
        // A failure on the way is the rerun's or the fresh check's to report.
        let Ok(sandbox) = sandboxes.fork_at(runner, &all[..k]).await? else {
            break;
        };
        let outcome = apply(&sandbox, runner, all).await;
        sandboxes.close(sandbox).await?;
        outcomes.push(LegacyOutcome {
            state: deployed_at(&all[k - 1]),
            index: None,
            outcome: outcome?,
        });
    }
    Ok(outcomes)
}

fn deployed_at(last: &Migration) -> String {
    format!("deployed at {}", last.version)
}
