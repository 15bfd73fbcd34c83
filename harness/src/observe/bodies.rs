//! `rerun-bodies`: each migration's body executed a second time right
//! after it ran, bypassing the version table, on a database at exactly its
//! version. A tracked runner never does this, so what it shows rests on an
//! assumption (someone runs a file by hand, or a runner loses its table):
//! the check reports warnings. Judging each body right after itself, and
//! undoing it before the next migration, keeps one migration's re-run from
//! being blamed on another (a 2019 `DROP TABLE` re-run cannot drop a 2024
//! table that does not exist yet).

use super::ObserveError;
use super::outcome::{Outcome, read};
use crate::migrations::MigrationSet;
use crate::runner::Runner;
use crate::sandbox::Sandboxes;

/// One migration's body run again.
#[derive(Debug, Clone)]
pub struct BodyRerun {
    /// The migration's file name.
    pub migration: String,
    /// The state right after the migration ran.
    pub before: Outcome,
    /// The state after its body ran again (`errors` holds its failure).
    pub after: Outcome,
    /// Whether the second run could not be undone (a migration that runs
    /// outside a transaction, on a sandbox that cannot rewind): later
    /// migrations then run on top of it.
    pub kept: bool,
}

/// Walks the set once: each migration applied as the runner applies it,
/// then its body again in a trial that is undone. Stops where the set
/// itself fails (the fresh check reports that).
pub async fn observe(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    set: &MigrationSet,
) -> Result<Vec<BodyRerun>, ObserveError> {
    let all = &set.migrations;
    let sandbox = sandboxes.open().await?;
    let mut reruns = Vec::new();
    let walked = async {
        for (k, migration) in all.iter().enumerate() {
            if sandbox.deploy_next(runner, all, k).await?.is_some() {
                break;
            }
            let before = read(&sandbox, Vec::new()).await?;
            let trial = sandbox.begin_trial(migration, runner).await?;
            let one = std::slice::from_ref(migration);
            let errors = sandbox.reexecute_each(runner, one, trial).await?;
            let after = read(&sandbox, errors).await?;
            if trial {
                sandbox.end_trial().await?;
            }
            reruns.push(BodyRerun {
                migration: migration.name.clone(),
                before,
                after,
                kept: !trial,
            });
        }
        Ok::<_, ObserveError>(())
    }
    .await;
    sandboxes.close(sandbox).await?;
    walked.map(|()| reruns)
}
