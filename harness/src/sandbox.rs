//! Sandboxes: isolated schema states on a server, cheapest first. A
//! rolled-back transaction where the migrations allow it, else a database
//! cloned from an empty template. Sandboxes never start or stop servers.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::Client;

use crate::migrations::{Statement, TxNeed};
use crate::postgres::{DatabaseGuard, PostgresError, Server};
use crate::runner::Nesting;

/// `--sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SandboxChoice {
    /// The cheapest strategy the migrations allow.
    #[default]
    Auto,
    Transaction,
    Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// A transaction rolled back at the end.
    Transaction,
    /// A database cloned from an empty template, dropped at the end.
    Template,
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strategy::Transaction => "transaction",
            Strategy::Template => "template",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("--sandbox transaction is not possible: {reason}; use --sandbox template or auto")]
    TransactionNotAllowed { reason: String },
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    #[error("sandbox: {action} failed: {message}")]
    Sql { action: String, message: String },
}

/// The chosen strategy and, when it is not the cheapest, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub strategy: Strategy,
    pub reason: Option<String>,
}

/// Picks the cheapest strategy that `statements` (with the file each is in)
/// allow: a transaction cannot hold `CONCURRENTLY`, transaction control,
/// or an enum value that a later statement would need committed.
pub fn choose<'a>(
    choice: SandboxChoice,
    statements: impl IntoIterator<Item = (&'a str, &'a Statement)>,
) -> Result<Choice, SandboxError> {
    let blocker = statements.into_iter().find_map(|(file, s)| {
        let why = match s.tx {
            TxNeed::Any => return None,
            TxNeed::NoTransaction => "cannot run inside a transaction block",
            TxNeed::Control => "controls transactions itself",
            TxNeed::NeedsCommit => "needs a commit before its new value can be used",
        };
        let head: String = s
            .sql
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        Some(format!("{file}:{} `{head} ...` {why}", s.line))
    });
    match (choice, blocker) {
        (SandboxChoice::Template, _) => Ok(Choice {
            strategy: Strategy::Template,
            reason: Some("asked for with --sandbox template".into()),
        }),
        (SandboxChoice::Transaction, Some(reason)) => {
            Err(SandboxError::TransactionNotAllowed { reason })
        }
        (_, Some(reason)) => Ok(Choice {
            strategy: Strategy::Template,
            reason: Some(reason),
        }),
        (_, None) => Ok(Choice {
            strategy: Strategy::Transaction,
            reason: None,
        }),
    }
}

/// One isolated state. Close it with [`Sandboxes::close`]; a sandbox that
/// is dropped instead is cleaned up by the server (its transaction rolls
/// back when the connection ends; its database goes with the cluster).
pub struct Sandbox {
    session: Session,
    database: Option<String>,
}

/// A connection and the task that drives it.
struct Session {
    client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Closes the connection and waits until the server has ended the
    /// backend, so that its database has no user left.
    async fn close(self) {
        drop(self.client);
        let _ = self.task.await;
    }
}

impl Sandbox {
    pub fn client(&self) -> &Client {
        &self.session.client
    }

    /// The sandbox's own database; `None` for a transaction sandbox.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    pub fn nesting(&self) -> Nesting {
        match self.database {
            None => Nesting::InTransaction,
            Some(_) => Nesting::TopLevel,
        }
    }
}

/// Opens and closes sandboxes of one strategy on one server. Its own
/// databases (`migcheck_*`) are created on first use and dropped by
/// [`Sandboxes::shutdown`].
pub struct Sandboxes<'s> {
    server: &'s Server,
    strategy: Strategy,
    admin: Option<Client>,
    /// The database transaction sandboxes live in, or the clone template.
    base: Option<String>,
    /// A connection to `base` kept between transaction sandboxes.
    idle: Option<Session>,
    /// Template databases of legacy states, by a hash of their content.
    kept: std::collections::BTreeMap<String, String>,
    /// On an existing server: the databases to drop if migcheck is
    /// interrupted (a throwaway server takes them along).
    guards: std::collections::HashMap<String, DatabaseGuard>,
    timeouts: Timeouts,
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
}

static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A name no other sandbox of this process or of another process uses.
fn database_name(role: &str) -> String {
    let n = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
    format!("migcheck_{role}_{}_{n}", std::process::id())
}

impl<'s> Sandboxes<'s> {
    pub fn new(server: &'s Server, strategy: Strategy) -> Sandboxes<'s> {
        Sandboxes {
            server,
            strategy,
            admin: None,
            base: None,
            idle: None,
            kept: Default::default(),
            guards: Default::default(),
            timeouts: Timeouts::default(),
        }
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The server, for extra connections to a sandbox's database (the
    /// faults check's blocker and watcher).
    pub fn server(&self) -> &'s Server {
        self.server
    }

    /// A template sandbox on a new connection, after its old one was
    /// terminated; a transaction sandbox cannot survive that.
    pub async fn reconnect(&self, sandbox: Sandbox) -> Result<Sandbox, SandboxError> {
        let database = sandbox.database.clone().ok_or_else(|| SandboxError::Sql {
            action: "reconnect".into(),
            message: "a transaction sandbox ends with its connection".into(),
        })?;
        sandbox.session.close().await;
        Ok(Sandbox {
            session: self.connect(&database).await?,
            database: Some(database),
        })
    }

    async fn admin(&mut self) -> Result<&Client, SandboxError> {
        if self.admin.is_none() {
            let database = self.server.admin_database();
            self.admin = Some(self.server.connect(&database).await?);
        }
        Ok(self.admin.as_ref().expect("just set"))
    }

    async fn sql(&mut self, sql: &str) -> Result<(), SandboxError> {
        self.admin()
            .await?
            .batch_execute(sql)
            .await
            .map_err(|e| SandboxError::Sql {
                action: sql.to_string(),
                message: db_message(&e),
            })
    }

    /// The limits every sandbox session runs migrations under.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
        crate::runner::set_backstop(timeouts.statement);
    }

    async fn connect(&self, database: &str) -> Result<Session, SandboxError> {
        let mut config = self.server.config(database);
        // Session options, not SET statements: no extra round trip, and in
        // place before the first statement of the session.
        let options = match config.get_options() {
            Some(theirs) => format!("{theirs} {}", self.timeouts.options()),
            None => self.timeouts.options(),
        };
        config.options(&options);
        let (client, task) = self.server.connect_config(config, database).await?;
        Ok(Session { client, task })
    }

    async fn create_database(&mut self, name: &str, template: &str) -> Result<(), SandboxError> {
        // FILE_COPY (PG15+) copies the template's files directly: for small
        // databases it is ~5x faster than the default WAL_LOG, and the
        // checkpoint it needs is cheap with fsync off.
        let strategy = if self.server.major() >= 15 {
            " STRATEGY FILE_COPY"
        } else {
            ""
        };
        // Registered before it exists: a signal during CREATE must not
        // leave it behind.
        if let Some(guard) = self.server.guard_database(name) {
            self.guards.insert(name.to_owned(), guard);
        }
        self.sql(&format!(
            "CREATE DATABASE {name} TEMPLATE {template}{strategy}"
        ))
        .await
    }

    async fn drop_database(&mut self, name: &str) -> Result<(), SandboxError> {
        self.sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        if let Some(guard) = self.guards.remove(name) {
            guard.disarm();
        }
        Ok(())
    }

    async fn base(&mut self) -> Result<String, SandboxError> {
        if let Some(base) = &self.base {
            return Ok(base.clone());
        }
        let base = database_name(match self.strategy {
            Strategy::Transaction => "tx",
            Strategy::Template => "template",
        });
        self.create_database(&base, "template0").await?;
        self.base = Some(base.clone());
        Ok(base)
    }

    /// A new, empty sandbox.
    pub async fn open(&mut self) -> Result<Sandbox, SandboxError> {
        let base = self.base().await?;
        match self.strategy {
            Strategy::Transaction => {
                let session = match self.idle.take() {
                    Some(session) if !session.client.is_closed() => session,
                    _ => self.connect(&base).await?,
                };
                session
                    .client
                    .batch_execute("BEGIN")
                    .await
                    .map_err(|e| SandboxError::Sql {
                        action: "BEGIN".into(),
                        message: db_message(&e),
                    })?;
                Ok(Sandbox {
                    session,
                    database: None,
                })
            }
            Strategy::Template => self.clone_of(&base).await,
        }
    }

    /// A template sandbox cloned from a database that [`Sandboxes::keep`]
    /// made; a legacy state built once then costs one clone per case.
    pub async fn open_from(&mut self, template: &str) -> Result<Sandbox, SandboxError> {
        self.clone_of(template).await
    }

    async fn clone_of(&mut self, template: &str) -> Result<Sandbox, SandboxError> {
        let database = database_name("case");
        self.create_database(&database, template).await?;
        let session = self.connect(&database).await?;
        Ok(Sandbox {
            session,
            database: Some(database),
        })
    }

    /// Keeps a template sandbox's database as a template for later clones,
    /// under `key`; it is dropped by [`Sandboxes::shutdown`].
    pub async fn keep(&mut self, sandbox: Sandbox, key: String) -> Option<String> {
        let database = sandbox.database?;
        sandbox.session.close().await;
        self.kept.insert(key, database.clone());
        Some(database)
    }

    /// The database kept under `key`, if any.
    pub fn kept(&self, key: &str) -> Option<&str> {
        self.kept.get(key).map(String::as_str)
    }

    /// Throws the sandbox's state away.
    pub async fn close(&mut self, sandbox: Sandbox) -> Result<(), SandboxError> {
        match sandbox.database {
            None => {
                // Settings and temp tables roll back with the transaction;
                // these do not, so the next sandbox starts clean. (DISCARD
                // ALL would too, but costs ~2 ms, 20x the rest.)
                let session = sandbox.session;
                if session
                    .client
                    .batch_execute(
                        "ROLLBACK; SELECT pg_advisory_unlock_all(); DEALLOCATE ALL; CLOSE ALL; UNLISTEN *",
                    )
                    .await
                    .is_ok()
                {
                    self.idle = Some(session);
                }
                Ok(())
            }
            Some(database) => {
                sandbox.session.close().await;
                self.drop_database(&database).await
            }
        }
    }

    /// Drops the databases this set of sandboxes created.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        if let Some(session) = self.idle.take() {
            session.close().await;
        }
        let kept: Vec<String> = std::mem::take(&mut self.kept).into_values().collect();
        for database in kept.into_iter().chain(self.base.take()) {
            self.drop_database(&database).await?;
        }
        Ok(())
    }
}

/// The server's own message for a database error, else the client's.
pub(crate) fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
