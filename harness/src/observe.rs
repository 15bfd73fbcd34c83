//! Observations: runs a scenario's migration set in sandboxes (fresh, again,
//! from each legacy state) and records what happened: errors, snapshots and
//! table data. It judges nothing; `checks` turns observations into findings.

use crate::data::TableData;
use crate::finding::Check;
use crate::migrations::{Migration, MigrationSet};
use crate::runner::{self, ApplyError};
use crate::sandbox::{Sandbox, SandboxError, Sandboxes, Strategy};
use crate::scenario::{LegacyState, Scenario};
use crate::schema::{self, Snapshot};

/// The state after one application of the set.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The first statement that failed, if any.
    pub error: Option<ApplyError>,
    /// The schema at the end, when the set applied without error.
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
    pub strategy: Strategy,
    pub fresh: Outcome,
    /// The set applied a second time on top of `fresh`.
    pub rerun: Option<Outcome>,
    pub legacy: Vec<LegacyOutcome>,
    /// Sandboxes used, for the report's case count.
    pub cases: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Runner(#[from] runner::RunnerError),
    #[error("reading the schema failed: {0}")]
    Schema(#[from] schema::SchemaError),
    #[error("reading table data failed: {}", crate::sandbox::db_message(.0))]
    Data(#[from] tokio_postgres::Error),
    #[error("legacy state `{state}`: {source}")]
    Upto {
        state: String,
        source: crate::migrations::MigrationsError,
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
/// `rerun`; every legacy state for `converge` and `expect`.
pub async fn observe(
    sandboxes: &mut Sandboxes<'_>,
    scenario: &Scenario,
    set: &MigrationSet,
    checks: &[Check],
) -> Result<Observation, ObserveError> {
    let mut cases = 1;
    let sandbox = sandboxes.open().await?;
    let fresh = apply(&sandbox, &set.migrations).await?;
    let rerun = if checks.contains(&Check::Rerun) && fresh.error.is_none() {
        cases += 1;
        Some(apply(&sandbox, &set.migrations).await?)
    } else {
        None
    };
    sandboxes.close(sandbox).await?;

    let mut legacy = Vec::new();
    if checks.contains(&Check::Converge) || checks.contains(&Check::Expect) {
        for state in &scenario.legacy {
            cases += 1;
            let sandbox = sandboxes.open().await?;
            let result = match seed(&sandbox, set, state).await {
                Ok(()) => apply(&sandbox, &set.migrations).await,
                Err(e) => Err(e),
            };
            sandboxes.close(sandbox).await?;
            legacy.push(LegacyOutcome {
                state: state.name.clone(),
                outcome: result?,
            });
        }
    }
    Ok(Observation {
        strategy: sandboxes.strategy(),
        fresh,
        rerun,
        legacy,
        cases,
    })
}

/// Puts the sandbox into a legacy state: the set up to a version, then SQL.
async fn seed(
    sandbox: &Sandbox,
    set: &MigrationSet,
    state: &LegacyState,
) -> Result<(), ObserveError> {
    let failed = |error| ObserveError::Legacy {
        state: state.name.clone(),
        origin: state.origin.clone(),
        error: Box::new(error),
    };
    if let Some(version) = &state.upto {
        let len = set
            .prefix_len(version)
            .map_err(|source| ObserveError::Upto {
                state: state.name.clone(),
                source,
            })?;
        if let Some(error) =
            runner::apply(sandbox.client(), &set.migrations[..len], sandbox.nesting()).await?
        {
            return Err(failed(error));
        }
    }
    if let Some(script) = &state.sql {
        let migration = Migration {
            version: String::new(),
            name: format!("legacy state `{}`", state.name),
            path: state.origin.clone().into(),
            up: script.clone(),
        };
        if let Some(error) =
            runner::apply(sandbox.client(), &[migration], sandbox.nesting()).await?
        {
            return Err(failed(error));
        }
    }
    Ok(())
}

async fn apply(sandbox: &Sandbox, migrations: &[Migration]) -> Result<Outcome, ObserveError> {
    let error = runner::apply(sandbox.client(), migrations, sandbox.nesting()).await?;
    if error.is_some() {
        return Ok(Outcome {
            error,
            snapshot: None,
            data: None,
        });
    }
    Ok(Outcome {
        error: None,
        snapshot: Some(schema::snapshot(sandbox.client()).await?),
        data: Some(TableData::read(sandbox.client()).await?),
    })
}
