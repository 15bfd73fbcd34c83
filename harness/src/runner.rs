//! The runner: applies migrations to a database the way the application's
//! own runner would (which files run at each start, and where transactions
//! begin and end), and reports the first failing statement with its file
//! position. It decides nothing about sandboxes or rules.

use tokio_postgres::Client;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::error::SqlState;

use crate::migrations::{Migration, Script, Statement};
use crate::postgres::Terminator;
use crate::version_table::VersionTable;

/// How the application applies the set (`--runner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerMode {
    /// Every file is executed again at every start.
    #[default]
    RerunAll,
    /// A version table records what ran; each start runs only the rest.
    Tracked,
}

impl RunnerMode {
    /// How the format's own tool applies a set: the tools keep a version
    /// table and run each migration once; plain directories have no tool,
    /// and the style that re-runs every file is the one that must be safe.
    pub fn of_format(format: crate::migrations::Format) -> RunnerMode {
        use crate::migrations::Format;
        match format {
            Format::Auto | Format::Plain => RunnerMode::RerunAll,
            Format::Sqlx
            | Format::GolangMigrate
            | Format::Diesel
            | Format::Flyway
            | Format::Refinery
            | Format::Dbmate => RunnerMode::Tracked,
        }
    }

    /// As on the command line and in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            RunnerMode::RerunAll => "rerun-all",
            RunnerMode::Tracked => "tracked",
        }
    }
}

/// Transaction boundaries the runner uses for transactional migrations
/// (`--tx`). Migrations the format marks as non-transactional always run
/// statement by statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TxMode {
    /// One transaction per migration.
    #[default]
    PerFile,
    /// One transaction around the whole run.
    Set,
    /// Each statement committed on its own, as some hand-written runners do.
    PerStatement,
}

/// Whether the runner's transactions are nested in a sandbox transaction,
/// where a transaction becomes a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nesting {
    TopLevel,
    InTransaction,
}

/// `statement_timeout` and `lock_timeout` of sandbox sessions: a migration
/// that sleeps or waits on a lock forever is cancelled by the server, which
/// the checks report as a `timeout` finding, and the run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub statement: std::time::Duration,
    pub lock: std::time::Duration,
}

impl Default for Timeouts {
    /// Generous for the few rows of a check, short enough for a CI job.
    fn default() -> Self {
        Timeouts {
            statement: std::time::Duration::from_secs(60),
            lock: std::time::Duration::from_secs(10),
        }
    }
}

impl Timeouts {
    /// As libpq `options`; 0 ms would mean "no limit", so at least 1 ms.
    pub(crate) fn options(&self) -> String {
        format!(
            "-c statement_timeout={} -c lock_timeout={}",
            self.statement.as_millis().max(1),
            self.lock.as_millis().max(1)
        )
    }

    /// A client-side limit on each statement, for migrations that turn the
    /// server's `statement_timeout` off themselves (or catch its cancel):
    /// a grace period after the server's own limit, which fires first.
    /// At the backstop the statement is cancelled; a grace period later,
    /// its backend is ended.
    pub(crate) fn backstop(&self) -> std::time::Duration {
        self.statement.saturating_add(GRACE)
    }

    /// The longest a statement can hold a run up: its limit and both
    /// grace periods.
    pub fn worst_case(&self) -> std::time::Duration {
        self.backstop().saturating_add(GRACE)
    }
}

/// How long a statement may outlive a limit before the next, harder one:
/// the server's statement_timeout, then migcheck's cancel, then the end of
/// the session.
const GRACE: std::time::Duration = std::time::Duration::from_secs(1);

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
    #[error("lost the connection to Postgres while applying {migration}")]
    Connection {
        migration: String,
        source: tokio_postgres::Error,
    },
    #[error(
        "{migration} has a statement that cannot run inside the sandbox transaction; this is a bug in migcheck's sandbox choice"
    )]
    NeedsTopLevel { migration: String },
}

/// The application's runner: which migrations run, in which
/// transactions, and (`tracked`) the version table it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Runner {
    pub mode: RunnerMode,
    pub tx: TxMode,
    /// The format's own table (`VersionTable::of(set.format)`).
    pub table: VersionTable,
}

impl Runner {
    /// One application start: applies `migrations` in order (in `tracked`
    /// mode only those the version table lacks) and stops at the first
    /// failure. `Ok(Some(_))` is a failed migration. Each statement runs
    /// under the session's `timeouts`, and a client-side backstop in case
    /// a migration turned the server's limit off.
    pub(crate) async fn apply(
        &self,
        client: &Client,
        migrations: &[Migration],
        nesting: Nesting,
        timeouts: Timeouts,
        terminator: &Terminator,
    ) -> Result<Option<ApplyError>, RunnerError> {
        let session = Session::new(self, client, nesting, timeouts, terminator);
        let result = match self.mode {
            RunnerMode::RerunAll => session.run(migrations, false).await?,
            RunnerMode::Tracked => {
                let recorded = session.recorded_versions(migrations).await?;
                let pending: Vec<Migration> =
                    self.table.pending(migrations, &recorded).cloned().collect();
                session.run(&pending, true).await?
            }
        };
        session.end().await;
        Ok(result)
    }

    /// What a deploy that brings a database at version `k` to `k + 1`
    /// runs: a tracked runner is given the set up to `k + 1` and runs what
    /// its table lacks; a rerun-all start at version k+1 re-runs 1..k too,
    /// which leaves version k unchanged when they are idempotent (and the
    /// rerun check reports them when they are not), so it is given the
    /// migration alone.
    pub fn next_deploy<'m>(&self, migrations: &'m [Migration], k: usize) -> &'m [Migration] {
        match self.mode {
            RunnerMode::Tracked => &migrations[..=k],
            RunnerMode::RerunAll => &migrations[k..=k],
        }
    }

    /// Runs each migration's body once more on its own, bypassing the
    /// version table, and returns every failure: which migrations are not
    /// safe to run twice.
    pub(crate) async fn reexecute_each(
        &self,
        client: &Client,
        migrations: &[Migration],
        nesting: Nesting,
        timeouts: Timeouts,
        terminator: &Terminator,
    ) -> Result<Vec<ApplyError>, RunnerError> {
        let session = Session::new(self, client, nesting, timeouts, terminator);
        let mut errors = Vec::new();
        for migration in migrations {
            if let Some(error) = session.run(std::slice::from_ref(migration), false).await? {
                errors.push(error);
            }
        }
        session.end().await;
        Ok(errors)
    }
}

struct Session<'c> {
    client: &'c Client,
    nesting: Nesting,
    tx: TxMode,
    timeouts: Timeouts,
    table: VersionTable,
    terminator: &'c Terminator,
    /// Set once migcheck has ended the backend: the statement's timeout
    /// is the finding, and the rollbacks after it have nothing to undo.
    ended: std::cell::Cell<bool>,
}

impl<'c> Session<'c> {
    fn new(
        runner: &Runner,
        client: &'c Client,
        nesting: Nesting,
        timeouts: Timeouts,
        terminator: &'c Terminator,
    ) -> Session<'c> {
        Session {
            client,
            nesting,
            tx: runner.tx,
            timeouts,
            table: runner.table,
            terminator,
            ended: std::cell::Cell::new(false),
        }
    }
}

/// How a group of statements is made atomic: a transaction, or inside the
/// sandbox's transaction a savepoint.
struct Bracket {
    begin: &'static str,
    commit: &'static str,
    rollback: &'static str,
}

const TRANSACTION: Bracket = Bracket {
    begin: "BEGIN",
    commit: "COMMIT",
    rollback: "ROLLBACK",
};

const SAVEPOINT: Bracket = Bracket {
    begin: "SAVEPOINT migcheck_unit",
    commit: "RELEASE SAVEPOINT migcheck_unit",
    rollback: "ROLLBACK TO SAVEPOINT migcheck_unit",
};

impl Session<'_> {
    fn bracket(&self) -> &'static Bracket {
        match self.nesting {
            Nesting::TopLevel => &TRANSACTION,
            Nesting::InTransaction => &SAVEPOINT,
        }
    }

    /// The application's session ends here: what the migrations set on it
    /// (`SET ROLE`, `SET SESSION AUTHORIZATION`, any setting) goes, as it
    /// would with the connection, so that migcheck reads the state as the
    /// role that made it and the next deploy starts as a new session does.
    /// Settings given at connection (the timeouts) are the defaults RESET
    /// returns to. A failure here is not the migrations' (and a lost
    /// connection shows on the next use of the session).
    async fn end(&self) {
        if !self.ended.get() {
            let _ = self
                .client
                .batch_execute("RESET ALL; RESET SESSION AUTHORIZATION; RESET ROLE")
                .await;
        }
    }

    async fn exec(&self, migration: &Migration, sql: &str) -> Result<(), RunnerError> {
        if self.ended.get() {
            return Ok(());
        }
        self.client
            .batch_execute(sql)
            .await
            .map_err(|source| RunnerError::Connection {
                migration: migration.name.clone(),
                source,
            })
    }

    /// Creates the version table if it is missing and reads the versions
    /// it records, as the tool does when a deploy starts.
    async fn recorded_versions(
        &self,
        migrations: &[Migration],
    ) -> Result<Vec<String>, RunnerError> {
        let connection = |source| RunnerError::Connection {
            migration: migrations
                .first()
                .map(|m| m.name.clone())
                .unwrap_or_default(),
            source,
        };
        self.client
            .batch_execute(&self.table.create_sql())
            .await
            .map_err(connection)?;
        let rows = self
            .client
            .query(&self.table.recorded_sql(), &[])
            .await
            .map_err(connection)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Runs `migrations` with the session's transaction mode; `record`
    /// inserts each version into the version table with its migration.
    async fn run(
        &self,
        migrations: &[Migration],
        record: bool,
    ) -> Result<Option<ApplyError>, RunnerError> {
        let bracket = self.bracket();
        // Open between migrations only in `set` mode.
        let mut open = false;
        for migration in migrations {
            let autocommit = !migration.transaction || self.tx == TxMode::PerStatement;
            if autocommit {
                if open {
                    self.exec(migration, bracket.commit).await?;
                    open = false;
                }
                if let Some(error) = self.run_autocommit(migration).await? {
                    return Ok(Some(error));
                }
                if record {
                    self.exec(migration, &self.table.record_sql(migration))
                        .await?;
                }
                continue;
            }
            if !open {
                self.exec(migration, bracket.begin).await?;
                open = true;
            }
            for (index, statement) in migration.up.statements.iter().enumerate() {
                if let Some(error) = self.statement(migration, index, statement).await? {
                    self.exec(migration, bracket.rollback).await?;
                    return Ok(Some(error));
                }
            }
            if record {
                self.exec(migration, &self.table.record_sql(migration))
                    .await?;
            }
            if self.tx == TxMode::PerFile {
                self.exec(migration, bracket.commit).await?;
                open = false;
            }
        }
        if let Some(last) = migrations.last().filter(|_| open) {
            self.exec(last, bracket.commit).await?;
        }
        Ok(None)
    }

    /// Each statement on its own: committed at once at the top level, or
    /// kept by a savepoint inside the sandbox, so a failure undoes only
    /// the failing statement, as on a real server.
    async fn run_autocommit(
        &self,
        migration: &Migration,
    ) -> Result<Option<ApplyError>, RunnerError> {
        for (index, statement) in migration.up.statements.iter().enumerate() {
            match self.nesting {
                Nesting::TopLevel => {
                    if let Some(error) = self.statement(migration, index, statement).await? {
                        // The file may have opened its own transaction; outside
                        // one, ROLLBACK only warns.
                        self.exec(migration, "ROLLBACK").await?;
                        return Ok(Some(error));
                    }
                }
                Nesting::InTransaction => {
                    if statement.outside_transaction() {
                        return Err(RunnerError::NeedsTopLevel {
                            migration: migration.name.clone(),
                        });
                    }
                    self.exec(migration, SAVEPOINT.begin).await?;
                    if let Some(error) = self.statement(migration, index, statement).await? {
                        self.exec(migration, SAVEPOINT.rollback).await?;
                        return Ok(Some(error));
                    }
                    self.exec(migration, SAVEPOINT.commit).await?;
                }
            }
        }
        Ok(None)
    }

    /// Sends one statement; a database error becomes an `ApplyError`.
    async fn statement(
        &self,
        migration: &Migration,
        index: usize,
        statement: &Statement,
    ) -> Result<Option<ApplyError>, RunnerError> {
        let (result, backstopped) =
            match bounded(self.client, &statement.sql, self.timeouts, self.terminator).await {
                Bounded::Answered {
                    result,
                    backstopped,
                } => (result, backstopped),
                Bounded::Ended => {
                    self.ended.set(true);
                    return Ok(Some(ApplyError {
                        migration: migration.name.clone(),
                        statement: index + 1,
                        line: statement.line,
                        column: 1,
                        sqlstate: Some(SqlState::QUERY_CANCELED.code().to_string()),
                        message: ended_message(self.timeouts),
                    }));
                }
            };
        let Err(e) = result else {
            return Ok(None);
        };
        let Some(db) = e.as_db_error() else {
            return Err(RunnerError::Connection {
                migration: migration.name.clone(),
                source: e,
            });
        };
        let (line, column) = error_location(&migration.up, statement, db);
        Ok(Some(ApplyError {
            migration: migration.name.clone(),
            statement: index + 1,
            line,
            column,
            sqlstate: Some(db.code().code().to_string()),
            message: match backstopped && db.code() == &SqlState::QUERY_CANCELED {
                true => "canceling statement due to statement timeout (migcheck's own limit: the migration had turned statement_timeout off)".to_string(),
                false => db.message().to_string(),
            },
        }))
    }
}

/// How a statement sent by [`bounded`] ended.
pub(crate) enum Bounded {
    /// The server answered; `backstopped` when only migcheck's own cancel
    /// ended it (the migration had turned `statement_timeout` off).
    Answered {
        result: Result<(), tokio_postgres::Error>,
        backstopped: bool,
    },
    /// It went on after every cancel: migcheck ended the session, and the
    /// client is closed.
    Ended,
}

/// Sends `sql` under `timeouts`, and holds the limit even when the
/// statement does not: past the server's `statement_timeout` migcheck
/// cancels it itself, and a grace period later ends its session (a
/// PL/pgSQL loop that catches `query_canceled` survives any cancel).
pub(crate) async fn bounded(
    client: &Client,
    sql: &str,
    timeouts: Timeouts,
    terminator: &Terminator,
) -> Bounded {
    let mut exec = std::pin::pin!(client.batch_execute(sql));
    if let Ok(result) = tokio::time::timeout(timeouts.backstop(), &mut exec).await {
        return Bounded::Answered {
            result,
            backstopped: false,
        };
    }
    let _ = client
        .cancel_token()
        .cancel_query(tokio_postgres::NoTls)
        .await;
    if let Ok(result) = tokio::time::timeout(GRACE, &mut exec).await {
        return Bounded::Answered {
            result,
            backstopped: true,
        };
    }
    terminator.terminate().await;
    let _ = exec.await;
    Bounded::Ended
}

/// The `timeout` finding's message for a statement whose session migcheck
/// ended.
pub(crate) fn ended_message(timeouts: Timeouts) -> String {
    format!(
        "canceling statement due to statement timeout (it went on after the server's cancel and migcheck's, so migcheck ended its session after {} ms)",
        timeouts.worst_case().as_millis()
    )
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
