//! Rollback observations: each migration in scope, on the set applied up
//! to it with rows seeded into every table, is applied (up), rolled back
//! (down) and applied again, with a snapshot and the rows read after each
//! step. It judges nothing; `checks::rollback` does.
//!
//! One sandbox holds the chain while it can. In a sandbox that rewinds, a
//! savepoint taken after up makes every migration's down and re-up start
//! from its up, even when they fail; elsewhere the chain goes on from the
//! re-up. Where the chain cannot go on in its sandbox (an up that fails on
//! the seeded rows, a down or re-up that failed in a sandbox that does not
//! rewind) it goes on in a new one holding the set applied up to that
//! migration, so every migration in scope is judged.

use std::path::Path;
use std::sync::Arc;

use super::outcome::ObserveError;
use super::seed;
use super::state::State;
use crate::data::TableRows;
use crate::migrations::{Migration, MigrationSet, Script, StatedWrite};
use crate::runner::{ApplyError, Runner, RunnerMode, TxMode};
use crate::sandbox::{Sandbox, Sandboxes};
use crate::scenario::Scenario;
use crate::schema::Snapshot;

/// One migration's round trip.
#[derive(Debug, Clone)]
pub struct RollbackStep {
    /// The up migration's name.
    pub migration: String,
    /// Tables migcheck filled with generated rows before up.
    pub seeded: Vec<String>,
    /// Snapshots equal to one read before them in the step share it: a
    /// round trip usually gives back what it started from, and keeping a
    /// copy of each made memory grow with the square of the set.
    pub before: Arc<Snapshot>,
    pub rows_before: TableRows,
    /// The rows the up and the down scripts change by name (`DELETE`,
    /// `UPDATE`, ...): meant, so not a loss.
    pub stated_up: Vec<StatedWrite>,
    pub stated_down: Vec<StatedWrite>,
    pub up: Result<After, ApplyError>,
    pub down: Down,
}

/// The state after a step that applied.
#[derive(Debug, Clone)]
pub struct After {
    pub snapshot: Arc<Snapshot>,
    pub rows: TableRows,
}

#[derive(Debug, Clone)]
pub enum Down {
    /// Up failed, so nothing was rolled back.
    NotRun,
    /// The set has no down for this migration.
    Missing,
    /// The scenario lists the migration under `irreversible:`.
    OptedOut,
    /// The down script (named as findings report it) and what happened.
    Ran {
        name: String,
        outcome: Result<DownAndReup, ApplyError>,
    },
}

impl Down {
    /// Whether the down or the re-up after it failed.
    fn failed(&self) -> bool {
        matches!(
            self,
            Down::Ran {
                outcome: Err(_) | Ok(DownAndReup { reup: Err(_), .. }),
                ..
            }
        )
    }
}

#[derive(Debug, Clone)]
pub struct DownAndReup {
    pub after_down: After,
    pub reup: Result<Arc<Snapshot>, ApplyError>,
}

#[derive(Debug, Clone, Default)]
pub struct RollbackObservation {
    pub steps: Vec<RollbackStep>,
    /// Migrations after which the chain went on in a new sandbox holding
    /// the set applied up to them (rows seeded before are not there).
    pub rebuilt: Vec<String>,
    /// Why the chain ended before the last migration, if it did.
    pub stopped: Option<String>,
    /// What the report should say about the rows generated.
    pub notes: Vec<String>,
    /// Ups after which only what the step touched was read again (see
    /// `observe::state`).
    pub read_in_part: usize,
}

const SAVEPOINT: &str = "migcheck_rollback";

/// Runs the chain for the migrations of `set` at `scope` (indexes, in
/// order): from the set applied up to the first of them, every migration
/// after it is applied, and those in scope are also rolled back and
/// applied again.
pub async fn observe(
    sandboxes: &mut Sandboxes<'_>,
    scenario: &Scenario,
    set: &MigrationSet,
    scope: &[usize],
) -> Result<RollbackObservation, ObserveError> {
    let mut observation = RollbackObservation::default();
    let Some(&first) = scope.first() else {
        return Ok(observation);
    };
    let mut chain = Chain {
        sandboxes,
        sandbox: None,
        // Forks are built as the application deploys, so that they are
        // the prefixes the other checks fork at too.
        deploy: scenario.runner_for(set),
    };
    let result = match chain.restart(&set.migrations[..first]).await {
        Ok(None) => walk(&mut chain, scenario, set, scope, &mut observation).await,
        Ok(Some(error)) => {
            observation.stopped = Some(format!(
                "the set up to {} does not apply: {}",
                set.migrations[first].name, error.message
            ));
            Ok(())
        }
        Err(e) => Err(e),
    };
    chain.close().await?;
    result.map(|()| observation)
}

/// The sandbox the chain is in, replaced when the chain must go on from a
/// state it cannot rewind to.
struct Chain<'c, 's> {
    sandboxes: &'c mut Sandboxes<'s>,
    sandbox: Option<Sandbox>,
    deploy: Runner,
}

impl Chain<'_, '_> {
    fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("the chain holds a sandbox")
    }

    /// Goes on in a new sandbox holding `prefix`: a clone where one is kept
    /// (or a savepoint), else the prefix applied in one new sandbox, which
    /// costs one application instead of a clone per version.
    async fn restart(&mut self, prefix: &[Migration]) -> Result<Option<ApplyError>, ObserveError> {
        self.close().await?;
        if self.sandboxes.keeps(self.deploy, prefix) {
            match self.sandboxes.fork_at(self.deploy, prefix).await? {
                Ok(sandbox) => self.sandbox = Some(sandbox),
                Err(error) => return Ok(Some(error)),
            }
            return Ok(None);
        }
        let sandbox = self.sandboxes.open().await?;
        let applied = sandbox.apply(self.deploy, prefix).await;
        self.sandbox = Some(sandbox);
        Ok(applied?)
    }

    async fn close(&mut self) -> Result<(), ObserveError> {
        if let Some(sandbox) = self.sandbox.take() {
            self.sandboxes.close(sandbox).await?;
        }
        Ok(())
    }
}

async fn walk(
    chain: &mut Chain<'_, '_>,
    scenario: &Scenario,
    set: &MigrationSet,
    scope: &[usize],
    observation: &mut RollbackObservation,
) -> Result<(), ObserveError> {
    // One migration at a time, with the application's transaction
    // boundaries; the version table plays no part in up and down.
    let runner = Runner {
        mode: RunnerMode::RerunAll,
        tx: scenario.tx,
        ..Runner::default()
    };
    let by_hand = Runner {
        mode: RunnerMode::RerunAll,
        tx: TxMode::PerFile,
        ..Runner::default()
    };
    let all = &set.migrations;
    let first = scope[0];
    let skipped: Vec<&str> = scenario
        .seed
        .iter()
        .filter(|seed| set.prefix_len(&seed.before).is_ok_and(|k| k <= first))
        .map(|seed| seed.origin.as_str())
        .collect();
    if !skipped.is_empty() {
        observation.notes.push(format!(
            "{} not put in: the chain starts at {}, the first migration in scope",
            skipped.join(", "),
            all[first].name
        ));
    }
    // What the chain's sandbox holds, when a step has just read it: the
    // next step's "before" then reads only what seeding wrote. Anything
    // else that runs forgets it.
    let mut settled: Option<State> = None;
    for (index, migration) in all.iter().enumerate().skip(first) {
        let mut known = settled.take();
        if !scope.contains(&index) {
            // Deployed already: applied on the way, not judged.
            if let Some(error) = chain
                .sandbox()
                .apply(runner, std::slice::from_ref(migration))
                .await?
            {
                if !rebuild(chain, observation, &all[..=index]).await? {
                    return Ok(());
                }
                observation.notes.push(format!(
                    "{} did not apply on the rows seeded before it ({}); the chain went on without them",
                    migration.name, error.message
                ));
            }
            continue;
        }
        let sandbox = chain.sandbox();
        for seed in &scenario.seed {
            if set.prefix_len(&seed.before).ok() == Some(index + 1) {
                known = None;
                let rows = by_hand_migration(&seed.origin, &seed.sql);
                if let Some(error) = sandbox.apply(by_hand, &[rows]).await? {
                    return Err(ObserveError::Seed {
                        origin: seed.origin.clone(),
                        error: Box::new(error),
                    });
                }
            }
        }
        sandbox.mark("migcheck_seeded").await?;
        let empty = known.as_ref().map(|state| {
            state
                .rows()
                .tables
                .iter()
                .filter(|(_, rows)| rows.values.is_empty())
                .map(|(table, _)| table.clone())
                .collect()
        });
        let mut seeded = seed::fill_empty_tables(sandbox, empty).await?;
        let mut before = match &known {
            Some(state) => state.refresh(sandbox, false).await?,
            None => State::read(sandbox).await?,
        };
        let mut up = apply_up(sandbox, runner, migration, &before).await?;
        // Generated rows know nothing of foreign keys or checks a later
        // migration adds; a failure they cause is theirs, unless it is the
        // NOT NULL column added without a default, which any populated
        // table hits.
        let unfit = match &up {
            Err(error) if !seeded.is_empty() => {
                error.sqlstate.as_deref() != Some(NOT_NULL_VIOLATION)
            }
            _ => false,
        };
        if unfit {
            let why = match &up {
                Err(error) => error.message.clone(),
                Ok(_) => String::new(),
            };
            observation.notes.push(format!(
                "the rows generated for {} do not fit {} ({why}); it was rolled back without them",
                seeded.join(", "),
                migration.name
            ));
            match sandbox.rewinds() {
                true => sandbox.rewind("migcheck_seeded").await?,
                false => {
                    if !rebuild(chain, observation, &all[..index]).await? {
                        return Ok(());
                    }
                }
            }
            seeded.clear();
            before = State::read(chain.sandbox()).await?;
            up = apply_up(chain.sandbox(), runner, migration, &before).await?;
        }
        let sandbox = chain.sandbox();
        sandbox.release("migcheck_seeded").await?;
        let before_up = before.snapshot().clone();
        let (up, after_up) = match up {
            Ok(state) => {
                observation.read_in_part += usize::from(state.partial());
                (Ok(after(&state, Some(&before_up))), Some(state))
            }
            Err(error) => (Err(error), None),
        };
        let mut step = RollbackStep {
            migration: migration.name.clone(),
            seeded,
            before: before_up,
            rows_before: before.rows().clone(),
            stated_up: migration.up.stated_writes(),
            stated_down: migration
                .down
                .as_ref()
                .map(Script::stated_writes)
                .unwrap_or_default(),
            up,
            down: Down::NotRun,
        };
        let Some(after_up) = after_up else {
            observation.steps.push(step);
            if !rebuild(chain, observation, &all[..=index]).await? {
                return Ok(());
            }
            continue;
        };
        let opted_out = scenario
            .irreversible
            .iter()
            .any(|o| o.migration == migration.name);
        let mut reapplied = None;
        step.down = match (&migration.down, opted_out) {
            (_, true) => Down::OptedOut,
            (None, false) => Down::Missing,
            (Some(script), false) => {
                let down = down_migration(migration, script);
                let name = down.name.clone();
                sandbox.mark(SAVEPOINT).await?;
                let shared = Shared {
                    before: &step.before,
                    after_up: step.up.as_ref().ok().map(|up| &up.snapshot),
                };
                let outcome;
                (outcome, reapplied) =
                    round_trip(sandbox, runner, migration, &down, shared, &after_up).await?;
                // Back to the state after up, whatever down and re-up did.
                sandbox.rewind(SAVEPOINT).await?;
                sandbox.release(SAVEPOINT).await?;
                Down::Ran { name, outcome }
            }
        };
        settled = match &step.down {
            _ if sandbox.rewinds() => Some(after_up.rewound(sandbox).await?),
            Down::Missing | Down::OptedOut => Some(after_up),
            _ => reapplied,
        };
        let lost = step.down.failed() && !sandbox.rewinds();
        observation.steps.push(step);
        if lost && !rebuild(chain, observation, &all[..=index]).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// Goes on from `prefix` in a new sandbox; `false` (and why, in
/// `stopped`) when the prefix does not apply there.
async fn rebuild(
    chain: &mut Chain<'_, '_>,
    observation: &mut RollbackObservation,
    prefix: &[Migration],
) -> Result<bool, ObserveError> {
    let last = prefix.last().map(|m| m.name.clone()).unwrap_or_default();
    match chain.restart(prefix).await? {
        None => {
            if !prefix.is_empty() {
                observation.rebuilt.push(last);
            }
            Ok(true)
        }
        Some(error) => {
            observation.stopped = Some(format!(
                "the set up to {last} does not apply in a new sandbox, so the migrations after it were not rolled back: {}",
                error.message
            ));
            Ok(false)
        }
    }
}

/// SQLSTATE of "column ... contains null values".
const NOT_NULL_VIOLATION: &str = "23502";

/// Applies `migration` on `before`; the state after it.
async fn apply_up(
    sandbox: &Sandbox,
    runner: Runner,
    migration: &Migration,
    before: &State,
) -> Result<Result<State, ApplyError>, ObserveError> {
    match sandbox
        .apply(runner, std::slice::from_ref(migration))
        .await?
    {
        Some(error) => Ok(Err(error)),
        None => Ok(Ok(before
            .refresh(sandbox, may_truncate(&migration.up))
            .await?)),
    }
}

/// Whether `script` may run `TRUNCATE`, which the row counts of
/// [`State`] do not tell: said anywhere in its text, a function body's
/// included.
fn may_truncate(script: &Script) -> bool {
    script.sql.to_ascii_lowercase().contains("truncate")
}

/// The snapshots a round trip's own are compared with, and share when
/// equal.
struct Shared<'s> {
    before: &'s Arc<Snapshot>,
    after_up: Option<&'s Arc<Snapshot>>,
}

/// `snapshot`, or `earlier` when they are equal.
fn share(snapshot: &Arc<Snapshot>, earlier: Option<&Arc<Snapshot>>) -> Arc<Snapshot> {
    match earlier {
        Some(earlier) if Arc::ptr_eq(earlier, snapshot) || **earlier == **snapshot => {
            Arc::clone(earlier)
        }
        _ => Arc::clone(snapshot),
    }
}

/// Down, then up again, from `after_up`; and the state after the re-up,
/// when it applied.
async fn round_trip(
    sandbox: &Sandbox,
    runner: Runner,
    up: &Migration,
    down: &Migration,
    shared: Shared<'_>,
    after_up: &State,
) -> Result<(Result<DownAndReup, ApplyError>, Option<State>), ObserveError> {
    if let Some(error) = sandbox.apply(runner, std::slice::from_ref(down)).await? {
        return Ok((Err(error), None));
    }
    let down_state = after_up.refresh(sandbox, may_truncate(&down.up)).await?;
    let after_down = after(&down_state, Some(shared.before));
    let (reup, reapplied) = match sandbox.apply(runner, std::slice::from_ref(up)).await? {
        Some(error) => (Err(error), None),
        None => {
            let state = down_state.refresh(sandbox, may_truncate(&up.up)).await?;
            (Ok(share(state.snapshot(), shared.after_up)), Some(state))
        }
    };
    Ok((Ok(DownAndReup { after_down, reup }), reapplied))
}

/// What `state` holds, its snapshot shared with `earlier` when equal.
fn after(state: &State, earlier: Option<&Arc<Snapshot>>) -> After {
    After {
        snapshot: share(state.snapshot(), earlier),
        rows: state.rows().clone(),
    }
}

/// A migration's down script as a migration of its own, named like its
/// file (`3_jobs.down.sql`, `<dir>/down.sql`), or like the up migration
/// with "(down)" when both live in one file (dbmate).
fn down_migration(up: &Migration, down: &Script) -> Migration {
    let name = match down.path.file_name() {
        Some(file) if down.path != up.path => match up.name.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{}", file.to_string_lossy()),
            None => file.to_string_lossy().into_owned(),
        },
        _ => format!("{} (down)", up.name),
    };
    Migration {
        version: up.version.clone(),
        name,
        path: down.path.clone(),
        up: down.clone(),
        down: None,
        transaction: up.transaction && down.fits_in_transaction(),
    }
}

fn by_hand_migration(origin: &str, sql: &Script) -> Migration {
    Migration {
        version: String::new(),
        name: origin.to_string(),
        path: Path::new(origin).to_path_buf(),
        up: sql.clone(),
        down: None,
        transaction: sql.fits_in_transaction(),
    }
}
