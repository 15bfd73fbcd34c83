//! Rollback observations: each migration in turn, on the set applied up to
//! it with rows seeded into every table, is applied (up), rolled back
//! (down) and applied again, with a snapshot and the rows read after each
//! step. It judges nothing; `checks::rollback` does.
//!
//! One sandbox holds the whole chain. In a transaction sandbox a savepoint
//! taken after up makes every migration's down and re-up start from its
//! up, even when they fail; in a template sandbox the chain goes on from
//! the re-up, and stops where a down or re-up failed.

use std::path::Path;

use super::outcome::ObserveError;
use super::seed;
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
    pub before: Snapshot,
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
    pub snapshot: Snapshot,
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

#[derive(Debug, Clone)]
pub struct DownAndReup {
    pub after_down: After,
    pub reup: Result<Snapshot, ApplyError>,
}

#[derive(Debug, Clone, Default)]
pub struct RollbackObservation {
    pub steps: Vec<RollbackStep>,
    /// Why the chain ended before the last migration, if it did.
    pub stopped: Option<String>,
    /// What the report should say about the rows generated.
    pub notes: Vec<String>,
}

const SAVEPOINT: &str = "migcheck_rollback";

/// Runs the chain for every migration of `set`.
pub async fn observe(
    sandboxes: &mut Sandboxes<'_>,
    scenario: &Scenario,
    set: &MigrationSet,
) -> Result<RollbackObservation, ObserveError> {
    let sandbox = sandboxes.open().await?;
    let result = chain(&sandbox, scenario, set).await;
    sandboxes.close(sandbox).await?;
    result
}

async fn chain(
    sandbox: &Sandbox,
    scenario: &Scenario,
    set: &MigrationSet,
) -> Result<RollbackObservation, ObserveError> {
    // One migration at a time, with the application's transaction
    // boundaries; the version table plays no part in up and down.
    let runner = Runner {
        mode: RunnerMode::RerunAll,
        tx: scenario.tx,
    };
    let by_hand = Runner {
        mode: RunnerMode::RerunAll,
        tx: TxMode::PerFile,
    };
    let mut observation = RollbackObservation::default();
    for (index, migration) in set.migrations.iter().enumerate() {
        for seed in &scenario.seed {
            if set.prefix_len(&seed.before).ok() == Some(index + 1) {
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
        let mut seeded = seed::fill_empty_tables(sandbox).await?;
        let mut before = after(sandbox).await?;
        let mut up = apply_up(sandbox, runner, migration).await?;
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
            if !sandbox.rewinds() {
                observation.stopped = Some(format!(
                    "the rows generated for {} do not fit {} ({why})",
                    seeded.join(", "),
                    migration.name
                ));
                break;
            }
            sandbox.rewind("migcheck_seeded").await?;
            observation.notes.push(format!(
                "the rows generated for {} do not fit {} ({why}); it was rolled back without them",
                seeded.join(", "),
                migration.name
            ));
            seeded.clear();
            before = after(sandbox).await?;
            up = apply_up(sandbox, runner, migration).await?;
        }
        sandbox.release("migcheck_seeded").await?;
        let applied = up.is_ok();
        let mut step = RollbackStep {
            migration: migration.name.clone(),
            seeded,
            before: before.snapshot,
            rows_before: before.rows,
            stated_up: migration.up.stated_writes(),
            stated_down: migration
                .down
                .as_ref()
                .map(Script::stated_writes)
                .unwrap_or_default(),
            up,
            down: Down::NotRun,
        };
        if !applied {
            observation.steps.push(step);
            observation.stopped = Some(format!(
                "{} did not apply on the seeded database",
                migration.name
            ));
            break;
        }
        let opted_out = scenario
            .irreversible
            .iter()
            .any(|o| o.migration == migration.name);
        let down = match (&migration.down, opted_out) {
            (_, true) => Down::OptedOut,
            (None, false) => Down::Missing,
            (Some(script), false) => {
                let down = down_migration(migration, script);
                let name = down.name.clone();
                sandbox.mark(SAVEPOINT).await?;
                let outcome = round_trip(sandbox, runner, migration, &down).await?;
                // Back to the state after up, whatever down and re-up did.
                sandbox.rewind(SAVEPOINT).await?;
                sandbox.release(SAVEPOINT).await?;
                Down::Ran { name, outcome }
            }
        };
        let failed = matches!(
            &down,
            Down::Ran {
                outcome: Err(_),
                ..
            } | Down::Ran {
                outcome: Ok(DownAndReup { reup: Err(_), .. }),
                ..
            }
        );
        step.down = down;
        observation.steps.push(step);
        if failed && !sandbox.rewinds() {
            observation.stopped = Some(format!(
                "rolling back {} failed, so the migrations after it were not rolled back",
                migration.name
            ));
            break;
        }
    }
    Ok(observation)
}

/// SQLSTATE of "column ... contains null values".
const NOT_NULL_VIOLATION: &str = "23502";

async fn apply_up(
    sandbox: &Sandbox,
    runner: Runner,
    migration: &Migration,
) -> Result<Result<After, ApplyError>, ObserveError> {
    match sandbox
        .apply(runner, std::slice::from_ref(migration))
        .await?
    {
        Some(error) => Ok(Err(error)),
        None => Ok(Ok(after(sandbox).await?)),
    }
}

/// Down, then up again.
async fn round_trip(
    sandbox: &Sandbox,
    runner: Runner,
    up: &Migration,
    down: &Migration,
) -> Result<Result<DownAndReup, ApplyError>, ObserveError> {
    if let Some(error) = sandbox.apply(runner, std::slice::from_ref(down)).await? {
        return Ok(Err(error));
    }
    let after_down = after(sandbox).await?;
    let reup = match sandbox.apply(runner, std::slice::from_ref(up)).await? {
        Some(error) => Err(error),
        None => Ok(sandbox.snapshot().await?),
    };
    Ok(Ok(DownAndReup { after_down, reup }))
}

async fn after(sandbox: &Sandbox) -> Result<After, ObserveError> {
    Ok(After {
        snapshot: sandbox.snapshot().await?,
        rows: TableRows::read(sandbox.client()).await?,
    })
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
