//! The set's own history as the generators need it: the schema after each
//! prefix, read once per run in one sandbox.

use generators::legacy::{LegacyCase, MigrationShape, Mutation};

use super::State;
use super::case::Failure;
use crate::migrations::MigrationSet;
use crate::observe::ObserveError;
use crate::runner::{ApplyError, Runner, RunnerMode, TxMode};
use crate::sandbox::Sandboxes;
use crate::schema::Snapshot;

pub struct History {
    pub generators: generators::legacy::History,
    /// `snapshots[k]`: the schema with the first `k` migrations applied.
    snapshots: Vec<Snapshot>,
    versions: Vec<String>,
    names: Vec<String>,
}

/// Applies the set one migration at a time and snapshots each prefix;
/// `Ok(Err(_))` when a migration fails on the way (the fresh install fails).
pub async fn read(
    sandboxes: &mut Sandboxes<'_>,
    set: &MigrationSet,
    runner: Runner,
) -> Result<Result<History, ApplyError>, ObserveError> {
    let sandbox = sandboxes.open().await?;
    let read = async {
        let mut snapshots = vec![sandbox.snapshot().await?];
        for k in 0..set.migrations.len() {
            if let Some(error) = sandbox.deploy_next(runner, &set.migrations, k).await? {
                return Ok(Err(error));
            }
            snapshots.push(sandbox.snapshot().await?);
        }
        Ok::<_, ObserveError>(Ok(snapshots))
    }
    .await;
    sandboxes.close(sandbox).await?;
    let snapshots = match read? {
        Ok(snapshots) => snapshots,
        Err(error) => return Ok(Err(error)),
    };
    let migrations = set
        .migrations
        .iter()
        .map(|m| MigrationShape {
            statements: m.up.statements.len(),
            can_stop_midway: !m.transaction || runner.tx == TxMode::PerStatement,
        })
        .collect();
    Ok(Ok(History {
        generators: generators::legacy::History {
            schemas: snapshots.iter().map(super::model::schema).collect(),
            migrations,
            restores_missing: runner.mode == RunnerMode::RerunAll,
        },
        snapshots,
        versions: set.migrations.iter().map(|m| m.version.clone()).collect(),
        names: set.migrations.iter().map(|m| m.name.clone()).collect(),
    }))
}

impl History {
    /// The schema after a fresh install.
    pub fn fresh(&self) -> &Snapshot {
        // `read` pushes one snapshot before any migration.
        &self.snapshots[self.snapshots.len() - 1]
    }

    /// The state of `case` as a scenario writes it.
    pub fn state(&self, case: &LegacyCase, failure: &Failure) -> State {
        let may_keep = case
            .mutations
            .iter()
            .filter_map(|m| match m {
                Mutation::AddColumn { table, column, .. } => {
                    Some(format!("column {table}.{column}"))
                }
                Mutation::AddIndex { index, .. } => Some(format!("index {index}")),
                _ => None,
            })
            .collect();
        State {
            name: case.describe(&self.names),
            upto: case.upto.checked_sub(1).map(|k| self.versions[k].clone()),
            deployed: None,
            sql: failure.applied.clone(),
            may_keep,
        }
    }
}
