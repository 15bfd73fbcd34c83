//! `--keep-failed`: a database in the state a failing case left, on a
//! server that stays up after migcheck exits, so a person can connect and
//! look. The state is rebuilt after the checks (their sandboxes are gone
//! by then): the legacy state the finding names, if the scenario defines
//! it, then the set applied the way the application's runner would,
//! stopping where it failed, twice for a rerun finding.

use crate::finding::{Finding, Kind};
use crate::migrations::MigrationSet;
use crate::postgres::Server;
use crate::runner::Nesting;
use crate::runner::Timeouts;
use crate::sandbox::Access;
use crate::scenario::{Deployed, Scenario};

#[derive(Debug, thiserror::Error)]
#[error("--keep-failed: cannot build the database of {scenario}")]
pub struct KeepError {
    pub scenario: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Builds the kept database of `finding` and returns its name; `scenario`
/// is the prepared one, with the legacy states the run added (lint's
/// predictions, versions from git).
pub async fn keep_case(
    server: &Server,
    scenario: &Scenario,
    finding: &Finding,
    timeouts: Timeouts,
) -> Result<String, KeepError> {
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| KeepError {
        scenario: scenario.id.clone(),
        source,
    };
    let set =
        MigrationSet::load(&scenario.migrations, scenario.format).map_err(|e| fail(e.into()))?;
    let slug: String = scenario
        .id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    let name = format!("migcheck_failed_{slug}_{}", std::process::id());
    let admin = server
        .connect(&server.admin_database())
        .await
        .map_err(|e| fail(e.into()))?;
    let guard = server.guard_database(&name);
    let sql = |e: tokio_postgres::Error| {
        fail(
            e.as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned())
                .into(),
        )
    };
    server.ensure_migrator(&admin).await.map_err(sql)?;
    let owner = server.owner_clause();
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {}{owner}",
            crate::sql::ident(&name)
        ))
        .await
        .map_err(sql)?;
    // As the run did: the migration role unless the scenario says otherwise.
    let config = Access::of(scenario.superuser).config(server, &name, timeouts);
    let (client, _task) = server
        .connect_config(config, &name)
        .await
        .map_err(|e| fail(e.into()))?;
    let terminator = server.terminator(&client).await.map_err(sql)?;
    let runner = scenario.runner_for(&set);
    let apply = |migrations| {
        runner.apply(
            &client,
            migrations,
            Nesting::TopLevel,
            timeouts,
            &terminator,
        )
    };
    let state = finding
        .legacy_state
        .as_ref()
        .and_then(|name| scenario.legacy.iter().find(|l| &l.name == name));
    if let Some(state) = state {
        if let Some(Deployed::Set(old)) = &state.deployed {
            apply(&old.migrations).await.map_err(|e| fail(e.into()))?;
        }
        if let Some(version) = &state.upto {
            let n = set.prefix_len(version).map_err(|e| fail(e.into()))?;
            apply(&set.migrations[..n])
                .await
                .map_err(|e| fail(e.into()))?;
        }
        if let Some(script) = &state.sql {
            // As the converge check does: the state's statements, in order.
            for statement in &script.statements {
                client.batch_execute(&statement.sql).await.map_err(sql)?;
            }
        }
    }
    let runs = match finding.kind {
        Kind::RerunFailed | Kind::RerunChanged => 2,
        _ => 1,
    };
    for _ in 0..runs {
        // A failing migration is what is being kept: its error is expected.
        apply(&set.migrations).await.map_err(|e| fail(e.into()))?;
    }
    if let Some(guard) = guard {
        guard.disarm();
    }
    Ok(name)
}
