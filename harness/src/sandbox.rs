//! Sandboxes: isolated schema states on a server, cheapest first. A
//! rolled-back transaction where the migrations allow it, else a database
//! cloned from a template. Sandboxes never start or stop servers.
//!
//! The strategy stays in here: other modules ask for a state ([`Sandboxes::open`],
//! [`Sandboxes::fork_at`]), work in it through [`Sandbox`] (apply migrations,
//! try a statement, set a mark and rewind to it) and close it, whichever
//! strategy holds it. What a strategy cannot do is a capability
//! ([`Sandbox::rewinds`]), not a branch on the strategy.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::migrations::{Migration, Statement, TxNeed};
use crate::postgres::globals::Tracker;
use crate::postgres::{DatabaseGuard, PostgresError, Server, Terminator};
pub use crate::runner::Timeouts;
use crate::runner::{ApplyError, Nesting, Runner, RunnerError};
use crate::schema::{self, SchemaError, Snapshot};

/// `--sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SandboxChoice {
    /// The cheapest strategy the migrations allow.
    #[default]
    Auto,
    Transaction,
    Template,
}

/// Whom migrations run as in a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// The server's non-superuser migration role ([`crate::postgres::MIGRATOR`]),
    /// which owns the sandbox databases; on an existing server, the URL's
    /// user.
    #[default]
    Owner,
    /// The server's superuser (`--superuser`): a migration can then act
    /// on the server's host as the user that runs the server.
    Superuser,
}

impl Access {
    /// `Superuser` when asked for (`--superuser`, `superuser: true`).
    pub fn of(superuser: bool) -> Access {
        match superuser {
            true => Access::Superuser,
            false => Access::Owner,
        }
    }

    /// How a session with this access connects to `database`, under
    /// `timeouts`: as a sandbox's session does, and as `--keep-failed`'s
    /// replay of a case.
    pub(crate) fn config(
        self,
        server: &Server,
        database: &str,
        timeouts: Timeouts,
    ) -> tokio_postgres::Config {
        let mut config = match self {
            Access::Owner => server.migrator_config(database),
            Access::Superuser => server.config(database),
        };
        // Session options, not SET statements: no extra round trip, and in
        // place before the first statement of the session.
        let options = match config.get_options() {
            Some(theirs) => format!("{theirs} {}", timeouts.options()),
            None => timeouts.options(),
        };
        config.options(&options);
        config
    }
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
    #[error(transparent)]
    Runner(#[from] RunnerError),
}

impl SandboxError {
    fn sql(action: &str, e: &tokio_postgres::Error) -> SandboxError {
        SandboxError::Sql {
            action: action.to_owned(),
            message: db_message(e),
        }
    }
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
            TxNeed::NeedsCommit => {
                "adds an enum value, which later statements can use only after a commit"
            }
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
    place: Place,
    timeouts: Timeouts,
}

/// Where a sandbox's state lives.
enum Place {
    /// A transaction of its own, rolled back at close.
    Transaction,
    /// The held transaction of [`Sandboxes::fork_at`], at the savepoint
    /// of version `at`, rewound to it at close.
    Held { at: usize },
    /// A database of its own, dropped at close.
    Database(String),
}

/// A connection, the task that drives it, and the snapshot queries
/// prepared on it (for a connection that snapshots many states).
struct Session {
    client: Client,
    task: tokio::task::JoinHandle<()>,
    prepared: Option<schema::Prepared>,
    /// Ends the backend when a statement outlives every timeout.
    terminator: Terminator,
    /// Set once [`Sandbox::execute`] had to end the backend.
    ended: std::cell::Cell<bool>,
    /// Whether the event triggers of [`crate::touched`] record what this
    /// session's DDL touches, once it asks.
    tracks_ddl: bool,
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

    /// The pid of the backend behind [`Sandbox::client`], asked once when
    /// the session was opened.
    pub fn backend_pid(&self) -> i32 {
        self.session.terminator.pid()
    }

    /// The sandbox's own database; `None` for a sandbox in a transaction
    /// on the sandboxes' shared database.
    pub fn database(&self) -> Option<&str> {
        match &self.place {
            Place::Database(name) => Some(name),
            Place::Transaction | Place::Held { .. } => None,
        }
    }

    fn nesting(&self) -> Nesting {
        match self.place {
            Place::Database(_) => Nesting::TopLevel,
            Place::Transaction | Place::Held { .. } => Nesting::InTransaction,
        }
    }

    /// Whether [`Sandbox::mark`] can be rewound to: inside a transaction,
    /// a savepoint; a database of its own cannot go back.
    pub fn rewinds(&self) -> bool {
        self.nesting() == Nesting::InTransaction
    }

    /// One application start of `runner` (see [`Runner::apply`]), under
    /// the sandbox's timeouts.
    pub async fn apply(
        &self,
        runner: Runner,
        migrations: &[Migration],
    ) -> Result<Option<ApplyError>, RunnerError> {
        runner
            .apply(
                self.client(),
                migrations,
                self.nesting(),
                self.timeouts,
                &self.session.terminator,
            )
            .await
    }

    /// The deploy that brings a database at version `k` to `k + 1`.
    pub async fn deploy_next(
        &self,
        runner: Runner,
        migrations: &[Migration],
        k: usize,
    ) -> Result<Option<ApplyError>, RunnerError> {
        self.apply(runner, runner.next_deploy(migrations, k)).await
    }

    /// Each migration's body once more (see [`Runner::reexecute_each`]);
    /// `in_trial` inside the trial [`Sandbox::begin_trial`] opened, where
    /// savepoints stand for the runner's transactions.
    pub async fn reexecute_each(
        &self,
        runner: Runner,
        migrations: &[Migration],
        in_trial: bool,
    ) -> Result<Vec<ApplyError>, RunnerError> {
        let nesting = match in_trial {
            true => Nesting::InTransaction,
            false => self.nesting(),
        };
        runner
            .reexecute_each(
                self.client(),
                migrations,
                nesting,
                self.timeouts,
                &self.session.terminator,
            )
            .await
    }

    /// The limits this sandbox's statements run under.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Sends `sql` as a migration statement is sent: under the sandbox's
    /// timeouts, and ending its session when the statement outlives them
    /// (see [`crate::runner::bounded`]).
    pub(crate) async fn execute(&self, sql: &str) -> crate::runner::Bounded {
        let bounded =
            crate::runner::bounded(self.client(), sql, self.timeouts, &self.session.terminator)
                .await;
        if matches!(bounded, crate::runner::Bounded::Ended) {
            self.session.ended.set(true);
        }
        bounded
    }

    /// Whether the session is gone: [`Sandbox::execute`] ended it, or the
    /// server closed it.
    pub(crate) fn ended(&self) -> bool {
        self.session.ended.get() || self.client().is_closed()
    }

    /// Opens a trial: what runs until [`Sandbox::end_trial`] is undone
    /// then. A savepoint where the sandbox rewinds, a transaction of its
    /// own where it does not; `false` (nothing opened) when `migration`
    /// cannot run inside one on this sandbox.
    pub async fn begin_trial(
        &self,
        migration: &Migration,
        runner: Runner,
    ) -> Result<bool, tokio_postgres::Error> {
        if self.rewinds() {
            self.mark("migcheck_trial").await?;
            return Ok(true);
        }
        if !migration.transaction || runner.tx == crate::runner::TxMode::PerStatement {
            return Ok(false);
        }
        self.client().batch_execute("BEGIN").await?;
        Ok(true)
    }

    /// Undoes everything since [`Sandbox::begin_trial`].
    pub async fn end_trial(&self) -> Result<(), tokio_postgres::Error> {
        if self.rewinds() {
            self.rewind("migcheck_trial").await?;
            return self.release("migcheck_trial").await;
        }
        self.client().batch_execute("ROLLBACK").await
    }

    /// Runs `sql`; inside a transaction under a savepoint, so that a
    /// statement the server rejects leaves nothing and the sandbox goes
    /// on. `Err` only when the connection is gone.
    pub async fn attempt(
        &self,
        sql: &str,
    ) -> Result<Result<(), tokio_postgres::Error>, tokio_postgres::Error> {
        let client = self.client();
        if !self.rewinds() {
            return match client.batch_execute(sql).await {
                Err(e) if e.is_closed() => Err(e),
                result => Ok(result),
            };
        }
        client.batch_execute("SAVEPOINT migcheck_attempt").await?;
        let result = client.batch_execute(sql).await;
        let end = match result {
            Ok(()) => "RELEASE SAVEPOINT migcheck_attempt",
            Err(_) => "ROLLBACK TO SAVEPOINT migcheck_attempt",
        };
        client.batch_execute(end).await?;
        Ok(result)
    }

    /// Marks the current state as `name`, to [`Sandbox::rewind`] to; does
    /// nothing where the sandbox cannot rewind.
    pub async fn mark(&self, name: &str) -> Result<(), tokio_postgres::Error> {
        self.savepoint(&format!("SAVEPOINT {name}")).await
    }

    /// Back to the state marked `name`, which stays marked.
    pub async fn rewind(&self, name: &str) -> Result<(), tokio_postgres::Error> {
        self.savepoint(&format!("ROLLBACK TO SAVEPOINT {name}"))
            .await
    }

    /// Forgets the mark `name`, keeping what was done since.
    pub async fn release(&self, name: &str) -> Result<(), tokio_postgres::Error> {
        self.savepoint(&format!("RELEASE SAVEPOINT {name}")).await
    }

    /// Runs a savepoint command where the sandbox can rewind.
    async fn savepoint(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        match self.rewinds() {
            true => self.client().batch_execute(sql).await,
            false => Ok(()),
        }
    }

    /// Whether [`crate::touched`] can tell what this sandbox's DDL touched:
    /// its triggers are in the sandbox's database, and migrations run as
    /// the migration role, which cannot turn them off.
    pub fn tracks_ddl(&self) -> bool {
        self.session.tracks_ddl
    }

    /// The catalog queries prepared on the sandbox's connection, if any.
    pub fn prepared(&self) -> Option<&schema::Prepared> {
        self.session.prepared.as_ref()
    }

    /// The schema the sandbox holds.
    pub async fn snapshot(&self) -> Result<Snapshot, SchemaError> {
        match &self.session.prepared {
            Some(prepared) => schema::snapshot_prepared(self.client(), prepared).await,
            None => schema::snapshot(self.client()).await,
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
    /// Transaction strategy: the connection to `base`, between sandboxes.
    /// There is one: two transactions creating the same tables in one
    /// database would wait on each other.
    idle: Option<Session>,
    /// Template strategy: databases holding a prefix of migrations, by a
    /// hash of their content, cloned by [`Sandboxes::fork_at`].
    kept: std::collections::BTreeMap<String, String>,
    /// Transaction strategy: when `idle` is inside the transaction
    /// [`Sandboxes::fork_at`] builds prefixes in, the prefixes built.
    held: Option<Held>,
    /// On an existing server: the databases to drop if migcheck is
    /// interrupted (a throwaway server takes them along).
    guards: std::collections::HashMap<String, DatabaseGuard>,
    timeouts: Timeouts,
    access: Access,
    /// [`Sandboxes::tracking_ddl`] was asked for, and whether the base
    /// database has the triggers.
    track_ddl: bool,
    ddl_tracked: bool,
    /// Roles, replication slots, ... from before the first case, and
    /// those the kept prefixes made: what a case makes goes when it ends.
    globals: Tracker,
}

/// One transaction kept open across forks, with a savepoint
/// `migcheck_version_<k>` after each of the `built` prefix steps (and
/// `migcheck_version_0` at its start): a fork at version k rolls back to
/// k's savepoint, or builds forward from the longest prefix it shares.
struct Held {
    /// The key of each prefix built, in order.
    built: Vec<String>,
}

static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A name no other sandbox of this process or of another process uses.
fn database_name(role: &str) -> String {
    let n = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
    format!("migcheck_{role}_{}_{n}", std::process::id())
}

/// Identifies a prefix of migrations as applied by `runner`: two prefixes
/// with the same key leave the same state.
fn prefix_key(runner: Runner, prefix: &[Migration]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{:?} {:?}", runner.mode, runner.tx));
    for migration in prefix {
        hash.update([0]);
        hash.update(&migration.name);
        hash.update([0]);
        hash.update(&migration.up.sql);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl<'s> Sandboxes<'s> {
    /// Sandboxes whose sessions run migrations under `timeouts`.
    pub fn new(server: &'s Server, strategy: Strategy, timeouts: Timeouts) -> Sandboxes<'s> {
        Sandboxes {
            server,
            strategy,
            admin: None,
            base: None,
            idle: None,
            kept: Default::default(),
            held: None,
            guards: Default::default(),
            timeouts,
            access: Access::default(),
            track_ddl: false,
            ddl_tracked: false,
            globals: Tracker::default(),
        }
    }

    /// Puts the triggers of [`crate::touched`] into the databases these
    /// sandboxes are made from, so that a caller can ask what a step's
    /// DDL touched ([`Sandbox::tracks_ddl`]). Before the first sandbox.
    pub fn tracking_ddl(mut self) -> Sandboxes<'s> {
        self.track_ddl = true;
        self
    }

    /// Runs the migrations as `access` instead of the owner role.
    pub fn with_access(mut self, access: Access) -> Sandboxes<'s> {
        self.access = access;
        self
    }

    /// Whom the migrations run as.
    pub fn access(&self) -> Access {
        self.access
    }

    /// For reports ("sandbox: transaction"); the work in a sandbox does
    /// not depend on it.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The limits every sandbox session runs under.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The server, for extra connections to a sandbox's database (the
    /// faults check's blocker and watcher).
    pub fn server(&self) -> &'s Server {
        self.server
    }

    /// A sandbox of its own database on a new connection, after its old
    /// one was terminated; a sandbox in a transaction cannot survive that.
    pub async fn reconnect(&self, sandbox: Sandbox) -> Result<Sandbox, SandboxError> {
        let Place::Database(database) = sandbox.place else {
            return Err(SandboxError::Sql {
                action: "reconnect".into(),
                message: "a sandbox in a transaction ends with its connection".into(),
            });
        };
        sandbox.session.close().await;
        Ok(Sandbox {
            session: self.connect(&database).await?,
            place: Place::Database(database),
            timeouts: self.timeouts,
        })
    }

    async fn admin(&mut self) -> Result<&Client, SandboxError> {
        if self.admin.is_none() {
            let database = self.server.admin_database();
            let admin = self.server.connect(&database).await?;
            self.server
                .ensure_migrator(&admin)
                .await
                .map_err(|e| SandboxError::sql("CREATE ROLE", &e))?;
            self.admin = Some(admin);
        }
        Ok(self.admin.as_ref().expect("just set"))
    }

    async fn sql(&mut self, sql: &str) -> Result<(), SandboxError> {
        self.admin()
            .await?
            .batch_execute(sql)
            .await
            .map_err(|e| SandboxError::sql(sql, &e))
    }

    async fn connect(&self, database: &str) -> Result<Session, SandboxError> {
        let config = self.access.config(self.server, database, self.timeouts);
        let (client, task) = self.server.connect_config(config, database).await?;
        let terminator = self
            .server
            .terminator(&client)
            .await
            .map_err(|e| SandboxError::sql("SELECT pg_backend_pid()", &e))?;
        Ok(Session {
            client,
            task,
            prepared: None,
            terminator,
            ended: std::cell::Cell::new(false),
            tracks_ddl: self.ddl_tracked && self.access == Access::Owner,
        })
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
        let owner = self.server.owner_clause();
        self.sql(&format!(
            "CREATE DATABASE {name} TEMPLATE {template}{strategy}{owner}"
        ))
        .await?;
        // On an existing server, who owns it: a later run drops it if this
        // one is killed.
        let server = self.server;
        server
            .record_owner(self.admin().await?, name)
            .await
            .map_err(|e| SandboxError::sql("COMMENT ON DATABASE", &e))
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
        if self.track_ddl {
            self.ddl_tracked = self.install_tracking(&base).await?;
        }
        Ok(base)
    }

    /// Puts the triggers of [`crate::touched`] into `base`; `false` on an
    /// existing server, where migrations run as the URL's user: one that
    /// may not create event triggers, or a superuser, who could drop them.
    async fn install_tracking(&self, base: &str) -> Result<bool, SandboxError> {
        if !self.server.has_migrator() {
            return Ok(false);
        }
        let client = self.server.connect(base).await?;
        client
            .batch_execute(crate::touched::INSTALL)
            .await
            .map_err(|e| SandboxError::sql("CREATE EVENT TRIGGER", &e))?;
        Ok(true)
    }

    /// A new, empty sandbox.
    pub async fn open(&mut self) -> Result<Sandbox, SandboxError> {
        let base = self.base().await?;
        self.settle_globals(None).await?;
        match self.strategy {
            Strategy::Transaction => {
                let session = match self.idle.take() {
                    Some(session) if !session.client.is_closed() => session,
                    _ => self.connect(&base).await?,
                };
                // The prefixes built for forks go: this sandbox starts empty.
                let begin = match self.held.take() {
                    Some(_) => "ROLLBACK; BEGIN",
                    None => "BEGIN",
                };
                session
                    .client
                    .batch_execute(begin)
                    .await
                    .map_err(|e| SandboxError::sql("BEGIN", &e))?;
                Ok(Sandbox {
                    session,
                    place: Place::Transaction,
                    timeouts: self.timeouts,
                })
            }
            Strategy::Template => self.clone_of(&base).await,
        }
    }

    async fn clone_of(&mut self, template: &str) -> Result<Sandbox, SandboxError> {
        let database = database_name("case");
        self.create_database(&database, template).await?;
        let session = self.connect(&database).await?;
        Ok(Sandbox {
            session,
            place: Place::Database(database),
            timeouts: self.timeouts,
        })
    }

    /// Whether [`Sandboxes::fork_at`] of `prefix` is a clone of a kept
    /// template (template strategy), not a build.
    pub fn keeps(&self, runner: Runner, prefix: &[Migration]) -> bool {
        prefix.is_empty() || self.kept.contains_key(&prefix_key(runner, prefix))
    }

    /// A sandbox holding `prefix` applied the way `runner` deploys it, one
    /// version after the other; `Ok(Err(_))` when a migration of the prefix
    /// fails. Each prefix is built once: the template strategy clones a
    /// database kept per prefix (building only the missing steps), the
    /// transaction strategy rolls its held transaction back to the
    /// savepoint of the longest prefix it shares with the one asked for.
    pub async fn fork_at(
        &mut self,
        runner: Runner,
        prefix: &[Migration],
    ) -> Result<Result<Sandbox, ApplyError>, SandboxError> {
        let keys: Vec<String> = (1..=prefix.len())
            .map(|k| prefix_key(runner, &prefix[..k]))
            .collect();
        self.base().await?;
        let from = keys.iter().rev().find(|key| self.kept.contains_key(*key));
        self.settle_globals(from.cloned().as_deref()).await?;
        match self.strategy {
            Strategy::Transaction => self.fork_held(runner, prefix, &keys).await,
            Strategy::Template => self.fork_kept(runner, prefix, &keys).await,
        }
    }

    async fn fork_kept(
        &mut self,
        runner: Runner,
        prefix: &[Migration],
        keys: &[String],
    ) -> Result<Result<Sandbox, ApplyError>, SandboxError> {
        // The longest prefix already built, then one clone and one
        // migration for each step after it.
        let mut k = (1..=prefix.len())
            .rev()
            .find(|&k| self.kept.contains_key(&keys[k - 1]))
            .unwrap_or(0);
        while k < prefix.len() {
            let sandbox = match k {
                0 => self.open().await?,
                _ => {
                    let template = self.kept[&keys[k - 1]].clone();
                    self.clone_of(&template).await?
                }
            };
            if let Some(error) = sandbox.deploy_next(runner, prefix, k).await? {
                self.close(sandbox).await?;
                return Ok(Err(error));
            }
            // Kept as a template for later clones, dropped by `shutdown`.
            let Place::Database(database) = sandbox.place else {
                unreachable!("template sandboxes have a database")
            };
            sandbox.session.close().await;
            self.kept.insert(keys[k].clone(), database);
            self.globals_built(&keys[k], k.checked_sub(1).map(|j| keys[j].as_str()))
                .await?;
            k += 1;
        }
        match k {
            0 => Ok(Ok(self.open().await?)),
            _ => {
                let template = self.kept[&keys[k - 1]].clone();
                Ok(Ok(self.clone_of(&template).await?))
            }
        }
    }

    async fn fork_held(
        &mut self,
        runner: Runner,
        prefix: &[Migration],
        keys: &[String],
    ) -> Result<Result<Sandbox, ApplyError>, SandboxError> {
        let (session, mut held) = self.hold().await?;
        let common = held
            .built
            .iter()
            .zip(keys)
            .take_while(|(built, wanted)| built == wanted)
            .count();
        held.built.truncate(common);
        let mut sandbox = Sandbox {
            session,
            place: Place::Held { at: common },
            timeouts: self.timeouts,
        };
        let result = async {
            sandbox
                .rewind(&version_savepoint(common))
                .await
                .map_err(|e| SandboxError::sql("ROLLBACK TO SAVEPOINT", &e))?;
            while held.built.len() < prefix.len() {
                let k = held.built.len();
                if let Some(error) = sandbox.deploy_next(runner, prefix, k).await? {
                    sandbox
                        .rewind(&version_savepoint(k))
                        .await
                        .map_err(|e| SandboxError::sql("ROLLBACK TO SAVEPOINT", &e))?;
                    return Ok(Err(error));
                }
                held.built.push(keys[k].clone());
                sandbox
                    .mark(&version_savepoint(k + 1))
                    .await
                    .map_err(|e| SandboxError::sql("SAVEPOINT", &e))?;
            }
            Ok(Ok(()))
        }
        .await;
        sandbox.place = Place::Held {
            at: held.built.len(),
        };
        match result {
            Ok(Ok(())) => {
                self.held = Some(held);
                Ok(Ok(sandbox))
            }
            Ok(Err(error)) => {
                self.held = Some(held);
                self.idle = Some(sandbox.session);
                Ok(Err(error))
            }
            // The transaction is in an unknown state: start another next time.
            Err(e) => {
                sandbox.session.close().await;
                Err(e)
            }
        }
    }

    /// The connection, inside the held transaction: the one that is open,
    /// else a new one, with the snapshot queries prepared on its connection
    /// (it snapshots many states).
    async fn hold(&mut self) -> Result<(Session, Held), SandboxError> {
        let base = self.base().await?;
        let mut session = match self.idle.take() {
            Some(session) if !session.client.is_closed() => session,
            _ => {
                self.held = None;
                self.connect(&base).await?
            }
        };
        if let Some(held) = self.held.take() {
            return Ok((session, held));
        }
        if session.prepared.is_none() {
            let prepared =
                schema::prepare(&session.client)
                    .await
                    .map_err(|e| SandboxError::Sql {
                        action: "prepare the catalog queries".into(),
                        message: e.to_string(),
                    })?;
            session.prepared = Some(prepared);
        }
        session
            .client
            .batch_execute(&format!("BEGIN; SAVEPOINT {}", version_savepoint(0)))
            .await
            .map_err(|e| SandboxError::sql("BEGIN", &e))?;
        Ok((session, Held { built: Vec::new() }))
    }

    /// Throws the sandbox's state away.
    pub async fn close(&mut self, sandbox: Sandbox) -> Result<(), SandboxError> {
        match sandbox.place {
            Place::Transaction => {
                // Settings and temp tables roll back with the transaction;
                // these do not, so the next sandbox starts clean. (DISCARD
                // ALL would too, but costs ~2 ms, 20x the rest.)
                let mut session = sandbox.session;
                session.prepared = None;
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
                self.globals_case_ends().await
            }
            Place::Held { at } => {
                // Back to the version's savepoint; what a rollback does not
                // undo (advisory locks, statements the migrations
                // prepared) goes too, so the next fork starts clean.
                let clean = rewind_held(&sandbox.session.client, at).await.is_ok();
                match (clean, self.held.as_mut()) {
                    (true, Some(held)) => {
                        held.built.truncate(at);
                        self.idle = Some(sandbox.session);
                    }
                    // A broken transaction is not reused.
                    _ => {
                        self.held = None;
                        sandbox.session.close().await;
                    }
                }
                self.globals_case_ends().await
            }
            Place::Database(database) => {
                sandbox.session.close().await;
                let globals = self.globals_case_ends().await;
                self.drop_database(&database).await?;
                globals
            }
        }
    }

    /// Ends the held transaction of [`Sandboxes::fork_at`] and closes the
    /// idle connection, for work in other sandboxes on the same server
    /// meanwhile: what the held prefixes created uncommitted (a role, a
    /// unique name) would make the same statement there wait for it.
    pub async fn set_aside(&mut self) {
        self.held = None;
        if let Some(session) = self.idle.take() {
            session.close().await;
        }
    }

    /// Drops the databases this set of sandboxes created.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        if let Some(session) = self.idle.take() {
            session.close().await;
        }
        let globals = self.globals_finish().await;
        let kept: Vec<String> = std::mem::take(&mut self.kept).into_values().collect();
        for database in kept.into_iter().chain(self.base.take()) {
            self.drop_database(&database).await?;
        }
        globals
    }
}

/// Cluster-wide objects (`postgres::globals`): each case starts on a
/// cluster that holds only what was there before the first case and what
/// the kept prefix it starts from made; what a case makes goes when it
/// ends.
impl Sandboxes<'_> {
    /// Before a case that starts from the kept prefix `from` (`None`: an
    /// empty database): the kept prefixes that made roles, slots, ... this
    /// case must not see lose them and are forgotten.
    async fn settle_globals(&mut self, from: Option<&str>) -> Result<(), SandboxError> {
        self.admin().await?;
        let admin = self.admin.as_ref().expect("just connected");
        let stale = self.globals.case_starts(self.server, admin, from).await?;
        for key in &stale {
            if let Some(database) = self.kept.remove(key) {
                self.drop_database(&database).await?;
            }
        }
        self.globals.forget(&stale);
        Ok(())
    }

    /// The prefix `key` was just built and kept: what it made is its own.
    async fn globals_built(&mut self, key: &str, parent: Option<&str>) -> Result<(), SandboxError> {
        self.admin().await?;
        let admin = self.admin.as_ref().expect("just connected");
        Ok(self.globals.built(admin, key, parent).await?)
    }

    /// A case ended: what it made goes (before its database does).
    async fn globals_case_ends(&mut self) -> Result<(), SandboxError> {
        let Some(admin) = &self.admin else {
            return Ok(());
        };
        Ok(self.globals.case_ends(self.server, admin).await?)
    }

    /// The sandboxes are done: whatever did not exist before goes.
    async fn globals_finish(&mut self) -> Result<(), SandboxError> {
        let Some(admin) = &self.admin else {
            return Ok(());
        };
        Ok(self.globals.finish(self.server, admin).await?)
    }
}

/// Rewinds the held transaction to version `at`'s savepoint, and lets go
/// of what a rollback does not undo: advisory locks, and statements the
/// migrations prepared (not migcheck's snapshot queries). One round trip
/// unless there is something to deallocate.
async fn rewind_held(client: &Client, at: usize) -> Result<(), tokio_postgres::Error> {
    let messages = client
        .simple_query(&format!(
            "ROLLBACK TO SAVEPOINT {}; SELECT pg_advisory_unlock_all();
             SELECT string_agg('DEALLOCATE ' || quote_ident(name), '; ')
             FROM pg_prepared_statements
             WHERE from_sql AND name NOT LIKE 'migcheck\\_snapshot\\_%'",
            version_savepoint(at)
        ))
        .await?;
    // The last row is string_agg's: NULL when there is nothing to drop.
    let last = messages.iter().rev().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let deallocate = last.and_then(|row| row.get(0)).map(str::to_owned);
    match deallocate {
        Some(sql) => client.batch_execute(&sql).await,
        None => Ok(()),
    }
}

fn version_savepoint(k: usize) -> String {
    format!("migcheck_version_{k}")
}

/// The server's own message for a database error, else the client's.
pub(crate) fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::Script;

    /// The strategy `choose` picks for `sql` (in `m.sql`), with its reason.
    fn check(sql: &str, expected: &str) {
        let script = Script::parse(std::path::Path::new("m.sql"), sql.to_string()).expect("parses");
        let choice = choose(
            SandboxChoice::Auto,
            script.statements.iter().map(|s| ("m.sql", s)),
        )
        .expect("a strategy");
        let actual = match choice.reason {
            Some(reason) => format!("{}: {reason}", choice.strategy),
            None => choice.strategy.to_string(),
        };
        assert_eq!(actual, expected);
    }

    #[test]
    fn only_a_new_enum_value_needs_a_commit() {
        check(
            "ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';",
            "transaction",
        );
        check(
            "ALTER TYPE mood ADD VALUE 'calm';",
            "template: m.sql:1 `ALTER TYPE mood ADD ...` adds an enum value, which later statements can use only after a commit",
        );
    }
}
