//! What every observation stage records of one application of a set (an
//! `Outcome`), how it is read from a sandbox, and why observing can fail.

use crate::data::TableData;
use crate::migrations::Migration;
use crate::runner::{self, ApplyError, Runner, RunnerMode, TxMode};
use crate::sandbox::{Sandbox, SandboxError};
use crate::scenario::LegacyState;
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
    #[error("locks: reading the state after a statement failed: {0}")]
    State(String),
    #[error("MIGCHECK_VERIFY_TRACKING: reading only what a step touched missed a change: {0}")]
    Tracking(String),
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

/// Puts a legacy state's SQL in place on `sandbox` by hand, as a person
/// would (one file, as psql runs it), not with the application's runner.
pub(super) async fn put_legacy_sql(
    sandbox: &Sandbox,
    state: &LegacyState,
) -> Result<Option<ApplyError>, ObserveError> {
    let Some(script) = &state.sql else {
        return Ok(None);
    };
    let migration = Migration {
        version: String::new(),
        name: format!("legacy state `{}`", state.name),
        path: state.origin.clone().into(),
        up: script.clone(),
        down: None,
        transaction: script.fits_in_transaction(),
    };
    let by_hand = Runner {
        mode: RunnerMode::RerunAll,
        tx: TxMode::PerFile,
        ..Runner::default()
    };
    Ok(sandbox.apply(by_hand, &[migration]).await?)
}

pub(super) async fn apply(
    sandbox: &Sandbox,
    runner: Runner,
    migrations: &[Migration],
) -> Result<Outcome, ObserveError> {
    let errors: Vec<ApplyError> = sandbox
        .apply(runner, migrations)
        .await?
        .into_iter()
        .collect();
    read(sandbox, errors).await
}

/// The outcome of a run: its errors, and what the database holds when
/// there were none.
pub(super) async fn read(
    sandbox: &Sandbox,
    errors: Vec<ApplyError>,
) -> Result<Outcome, ObserveError> {
    if !errors.is_empty() {
        return Ok(Outcome {
            errors,
            snapshot: None,
            data: None,
        });
    }
    Ok(Outcome {
        errors,
        snapshot: Some(sandbox.snapshot().await?),
        data: Some(TableData::read(sandbox.client()).await?),
    })
}
