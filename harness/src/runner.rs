//! The runner: applies migrations to a database the way the application's
//! own runner would, and reports the first failing statement with its file
//! position. It decides nothing about sandboxes or rules.

use tokio_postgres::Client;
use tokio_postgres::error::ErrorPosition;

use crate::migrations::{Migration, Script, Statement, TxNeed};

/// How the application applies the set (`--runner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerMode {
    /// Every file is executed again at every start.
    #[default]
    RerunAll,
}

/// Transaction boundaries the runner uses (`--tx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxMode {
    /// One transaction per migration file.
    #[default]
    PerFile,
}

/// Whether the runner's transactions are nested in a sandbox transaction,
/// where a file's transaction becomes a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    TopLevel,
    InTransaction,
}

/// A statement the server rejected: material for a finding, not an `Err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    pub migration: String,
    /// 1-based index of the statement in its migration.
    pub statement: usize,
    pub line: usize,
    pub column: usize,
    pub sqlstate: Option<String>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("lost the connection to Postgres while applying {migration}: {source}")]
    Connection {
        migration: String,
        source: tokio_postgres::Error,
    },
    #[error(
        "{migration} has a statement that cannot run inside the sandbox transaction; this is a bug in migcheck's sandbox choice"
    )]
    NeedsTopLevel { migration: String },
}

/// Applies `migrations` in order and stops at the first failing file, as
/// an application start would. `Ok(Some(_))` is a failed migration.
pub async fn apply(
    client: &Client,
    migrations: &[Migration],
    nesting: Nesting,
) -> Result<Option<ApplyError>, RunnerError> {
    for migration in migrations {
        if let Some(error) = apply_one(client, migration, nesting).await? {
            return Ok(Some(error));
        }
    }
    Ok(None)
}

async fn apply_one(
    client: &Client,
    migration: &Migration,
    nesting: Nesting,
) -> Result<Option<ApplyError>, RunnerError> {
    let statements = &migration.up.statements;
    let needs = |need| statements.iter().any(|s| s.tx == need);
    let run_alone = needs(TxNeed::Control) || needs(TxNeed::NoTransaction);
    let (begin, commit, rollback) = match (nesting, run_alone) {
        (Nesting::InTransaction, true) => {
            return Err(RunnerError::NeedsTopLevel {
                migration: migration.name.clone(),
            });
        }
        (Nesting::InTransaction, false) => (
            "SAVEPOINT migcheck_migration",
            "RELEASE SAVEPOINT migcheck_migration",
            "ROLLBACK TO SAVEPOINT migcheck_migration",
        ),
        // A file that manages its own transactions, or holds statements
        // that refuse one, is sent statement by statement in autocommit.
        (Nesting::TopLevel, true) => ("", "", "ROLLBACK"),
        (Nesting::TopLevel, false) => ("BEGIN", "COMMIT", "ROLLBACK"),
    };
    let connection = |source| RunnerError::Connection {
        migration: migration.name.clone(),
        source,
    };
    if !begin.is_empty() {
        client.batch_execute(begin).await.map_err(connection)?;
    }
    for (index, statement) in statements.iter().enumerate() {
        if let Err(e) = client.batch_execute(&statement.sql).await {
            let Some(db) = e.as_db_error() else {
                return Err(connection(e));
            };
            // Leaves the connection usable; outside a transaction ROLLBACK
            // only warns.
            client.batch_execute(rollback).await.map_err(connection)?;
            let (line, column) = error_location(&migration.up, statement, db);
            return Ok(Some(ApplyError {
                migration: migration.name.clone(),
                statement: index + 1,
                line,
                column,
                sqlstate: Some(db.code().code().to_string()),
                message: db.message().to_string(),
            }));
        }
    }
    if !commit.is_empty() {
        client.batch_execute(commit).await.map_err(connection)?;
    }
    Ok(None)
}

/// The file position of a server error: the error's own position inside
/// the statement when the server gives one, the line inside a DO block's
/// body for PL/pgSQL errors, else the statement's start.
fn error_location(
    script: &Script,
    statement: &Statement,
    db: &tokio_postgres::error::DbError,
) -> (usize, usize) {
    if let Some(ErrorPosition::Original(position)) = db.position() {
        // The position counts characters from 1.
        let byte = statement
            .sql
            .char_indices()
            .nth((*position as usize).saturating_sub(1))
            .map_or(statement.sql.len(), |(i, _)| i);
        return script.line_column(statement.offset + byte);
    }
    if let Some(line) = db.where_().and_then(|w| plpgsql_line(statement, w)) {
        let (body_line, _) = script.line_column(statement.offset);
        return (body_line + line, 1);
    }
    (statement.line, statement.column)
}

/// For "PL/pgSQL function inline_code_block line N at ...", the number of
/// lines between the statement's first line and line N of the DO body.
fn plpgsql_line(statement: &Statement, context: &str) -> Option<usize> {
    let rest = context.split("inline_code_block line ").nth(1)?;
    let n: usize = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    // The body starts right after the opening dollar quote.
    let open = statement.sql.find('$')?;
    let tag_end = open + 1 + statement.sql[open + 1..].find('$')?;
    Some(statement.sql[..tag_end].matches('\n').count() + n - 1)
}
