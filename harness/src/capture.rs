//! capture: the schema of what a person names on the command line, for
//! `migcheck snapshot` and `migcheck diff`: a live database (`Source::Dsn`,
//! read only), a migration directory applied to a fresh database on a
//! throwaway server (`Source::Migrations`), or a snapshot saved earlier as
//! JSON (`Source::File`).
//!
//! A database migcheck did not create is only read: its snapshot is taken
//! in a `READ ONLY` transaction, so not even a bug here could write to it.
//! Nothing here stores or prints a connection string: it may hold a password.

use std::path::{Path, PathBuf};

use tokio_postgres::Client;

use crate::migrations::{Format, MigrationSet};
use crate::pipeline;
use crate::postgres::{PgSpec, Server};
use crate::runner::Runner;
use crate::sandbox::SandboxChoice;
use crate::sandbox::{Sandboxes, Strategy, db_message};
use crate::scenario::Scenario;
use crate::schema::{self, Diff, Snapshot};

/// Something to take a snapshot of.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// A connection string (URL or `key=value` form). Never shown.
    Dsn(String),
    Migrations {
        dir: PathBuf,
        format: Format,
    },
    /// A file written by `migcheck snapshot --format json`.
    File(PathBuf),
}

// By hand, so that `{:?}` never shows a password.
impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Dsn(_) => f.write_str("Dsn(..)"),
            Source::Migrations { dir, format } => f
                .debug_struct("Migrations")
                .field("dir", dir)
                .field("format", format)
                .finish(),
            Source::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl Source {
    /// One argument of `migcheck diff`: a connection string (`postgres://`,
    /// `postgresql://`, or `key=value ...`), a directory of migrations, or
    /// a snapshot file.
    pub fn from_arg(arg: &str) -> Result<Source, CaptureError> {
        if is_dsn(arg) {
            return Ok(Source::Dsn(arg.to_owned()));
        }
        let path = PathBuf::from(arg);
        if path.is_dir() {
            Ok(Source::Migrations {
                dir: path,
                format: Format::Auto,
            })
        } else if path.exists() {
            // Read as a file: one that is not regular (a FIFO, a device)
            // is refused by `input`, saying what it is.
            Ok(Source::File(path))
        } else {
            Err(CaptureError::NoSuchSource { arg: path })
        }
    }

    /// How rendered diffs name this side: `in migrations/` (applied to an
    /// empty database), `in snapshot FILE`, `in database DB on HOST:PORT
    /// as USER` (never the whole connection string).
    pub fn describe(&self) -> String {
        match self {
            Source::Dsn(dsn) => match dsn.parse::<tokio_postgres::Config>() {
                Ok(config) => format!("in database {}", config_target(&config)),
                Err(_) => "in the database".to_owned(),
            },
            Source::Migrations { dir, .. } => {
                let dir = dir.display().to_string();
                let slash = if dir.ends_with('/') { "" } else { "/" };
                format!("in {dir}{slash}")
            }
            Source::File(path) => format!("in snapshot {}", path.display()),
        }
    }
}

/// `postgres://...`, `postgresql://...`, or libpq's `key=value` form.
fn is_dsn(arg: &str) -> bool {
    arg.starts_with("postgres://")
        || arg.starts_with("postgresql://")
        || (arg.contains('=') && !Path::new(arg).exists())
}

/// `dbname on host:port as user`, without the password.
fn config_target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let dbname = config.get_dbname().unwrap_or(user);
    format!("{dbname} on {host}:{port} as {user}")
}

/// A snapshot file: the snapshot and the server it was read from, so that
/// a diff across majors can say why definitions are spelled differently.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotFile {
    /// Format version of this file; 1.
    pub version: u32,
    /// The server version, e.g. "15.14"; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<String>,
    pub fingerprint: String,
    #[serde(flatten)]
    pub snapshot: Snapshot,
}

const FILE_VERSION: u32 = 1;

impl SnapshotFile {
    pub fn new(snapshot: Snapshot, postgres: Option<String>) -> SnapshotFile {
        SnapshotFile {
            version: FILE_VERSION,
            postgres,
            fingerprint: snapshot.fingerprint(),
            snapshot,
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a snapshot serialises");
        text.push('\n');
        text
    }

    pub fn read(path: &Path) -> Result<SnapshotFile, CaptureError> {
        let text = crate::input::read_text(path)?;
        let bad = |message: String| CaptureError::BadFile {
            path: path.to_owned(),
            message,
        };
        let file: SnapshotFile = serde_json::from_str(&text)
            .map_err(|e| bad(format!("line {}, column {}: {e}", e.line(), e.column())))?;
        if file.version != FILE_VERSION {
            return Err(bad(format!(
                "version {} is not one this migcheck reads ({FILE_VERSION})",
                file.version
            )));
        }
        if file.fingerprint != file.snapshot.fingerprint() {
            return Err(bad(
                "its fingerprint does not match its objects (edited by hand?); \
                 take the snapshot again"
                    .to_owned(),
            ));
        }
        Ok(file)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "{arg}: neither a directory, a snapshot file, nor a connection string \
         (postgres://... or key=value); pass one of those",
        arg = arg.display()
    )]
    NoSuchSource { arg: PathBuf },
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error(
        "{path}: not a migcheck snapshot file: {message}; write one with \
         `migcheck snapshot --format json --output FILE`",
        path = path.display()
    )]
    BadFile { path: PathBuf, message: String },
    /// Parse errors of tokio-postgres name the bad key, never its value.
    #[error("the connection string is not valid: {message} (not shown: it may hold a password)")]
    BadDsn { message: String },
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("reading the schema of {target}: {message}")]
    Read { target: String, message: String },
    #[error(
        "{dir}: {migration} line {line} fails on an empty database: {message}{sqlstate}; \
         `migcheck check --migrations {dir}` says more",
        dir = dir.display(),
        sqlstate = sqlstate.as_deref().map(|s| format!(" (SQLSTATE {s})")).unwrap_or_default()
    )]
    ApplyFailed {
        dir: PathBuf,
        migration: String,
        line: usize,
        sqlstate: Option<String>,
        message: String,
    },
    #[error(transparent)]
    Migrations(#[from] crate::migrations::MigrationsError),
    #[error(transparent)]
    Postgres(#[from] crate::postgres::PostgresError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Runner(#[from] crate::runner::RunnerError),
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Prepare(Box<crate::Error>),
}

/// Where servers for migration directories come from (`--pg`, `--pg-version`).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub pg: PgSpec,
    pub pg_version: Option<u32>,
    /// The migrations run as the server's superuser (`--superuser`).
    pub superuser: bool,
}

/// Takes the snapshot of every source, in order. One throwaway server is
/// started, only if a source is a migration directory, and stopped before
/// returning.
pub fn capture(
    sources: &[Source],
    options: &ServerOptions,
) -> Result<Vec<SnapshotFile>, CaptureError> {
    // Directories are loaded and guarded like every set, before a server
    // starts.
    let sets = sources
        .iter()
        .map(|source| match source {
            Source::Migrations { dir, format } => {
                let scenario = Scenario::ad_hoc(dir, *format);
                let prepared = pipeline::prepare(&scenario, &[], SandboxChoice::Template)
                    .map_err(|e| CaptureError::Prepare(Box::new(e)))?;
                Ok(Some(prepared.set))
            }
            Source::Dsn(_) | Source::File(_) => Ok(None),
        })
        .collect::<Result<Vec<_>, CaptureError>>()?;
    let server = match sets.iter().any(Option::is_some) {
        true => Some(Server::start(&options.pg, options.pg_version)?),
        false => None,
    };
    let runtime = crate::runtime().map_err(CaptureError::Runtime)?;
    let mut files = Vec::new();
    for (source, set) in sources.iter().zip(&sets) {
        let file = match (source, set, &server) {
            (Source::Migrations { dir, .. }, Some(set), Some(server)) => {
                runtime.block_on(from_migrations(server, dir, set, options.superuser))?
            }
            (Source::Dsn(dsn), _, _) => runtime.block_on(from_dsn(dsn))?,
            (Source::File(path), _, _) => SnapshotFile::read(path)?,
            (Source::Migrations { .. }, _, _) => {
                unreachable!("loaded, and a server started, above")
            }
        };
        files.push(file);
    }
    Ok(files)
}

async fn from_dsn(dsn: &str) -> Result<SnapshotFile, CaptureError> {
    let mut config: tokio_postgres::Config =
        dsn.parse()
            .map_err(|e: tokio_postgres::Error| CaptureError::BadDsn {
                message: e.to_string(),
            })?;
    if config.get_application_name().is_none() {
        config.application_name("migcheck snapshot");
    }
    let target = config_target(&config);
    let (client, task) = crate::postgres::connect_on_task(&config)
        .await
        .map_err(|e| CaptureError::Connect {
            target: target.clone(),
            message: connection_message(&e),
        })?;
    let result = read_only_snapshot(&client).await;
    drop(client);
    let _ = task.await;
    result.map_err(|message| CaptureError::Read { target, message })
}

/// The server's message, or the client's error with its cause (e.g.
/// "connection refused"), which `Display` alone leaves out.
fn connection_message(e: &tokio_postgres::Error) -> String {
    if e.as_db_error().is_some() {
        return db_message(e);
    }
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

/// A snapshot inside a `READ ONLY` transaction: the server refuses any
/// write, and every catalog query sees the same moment. `search_path` is
/// set to `public` for the transaction, so definitions are spelled the same
/// whatever the role's own setting.
async fn read_only_snapshot(client: &Client) -> Result<SnapshotFile, String> {
    client
        .batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL search_path TO public",
        )
        .await
        .map_err(|e| db_message(&e))?;
    let snapshot = schema::snapshot(client).await.map_err(|e| e.to_string())?;
    let version = client
        .simple_query("SHOW server_version")
        .await
        .map_err(|e| db_message(&e))?
        .into_iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(version_number),
            _ => None,
        });
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| db_message(&e))?;
    Ok(SnapshotFile::new(snapshot, version))
}

/// "15.14 (Debian 15.14-0+deb12u1)" → "15.14".
fn version_number(server_version: &str) -> String {
    server_version
        .split_whitespace()
        .next()
        .unwrap_or(server_version)
        .to_owned()
}

async fn from_migrations(
    server: &Server,
    dir: &Path,
    set: &MigrationSet,
    superuser: bool,
) -> Result<SnapshotFile, CaptureError> {
    let mut sandboxes = Sandboxes::new(
        server,
        Strategy::Template,
        crate::sandbox::Timeouts::default(),
    )
    .with_access(crate::sandbox::Access::of(superuser));
    let result = async {
        let sandbox = sandboxes.open().await?;
        let applied = sandbox.apply(Runner::default(), &set.migrations).await;
        let snapshot = match applied {
            Ok(None) => read_only_snapshot(sandbox.client())
                .await
                .map_err(|message| CaptureError::Read {
                    target: format!("the database built from {}", dir.display()),
                    message,
                }),
            Ok(Some(error)) => Err(CaptureError::ApplyFailed {
                dir: dir.to_owned(),
                migration: error.migration,
                line: error.line,
                sqlstate: error.sqlstate,
                message: error.message,
            }),
            Err(error) => Err(error.into()),
        };
        sandboxes.close(sandbox).await?;
        snapshot
    }
    .await;
    // Drop the databases also when applying failed.
    let shutdown = sandboxes.shutdown().await;
    let file = result?;
    shutdown?;
    Ok(SnapshotFile {
        postgres: Some(server.version().to_owned()),
        ..file
    })
}

/// Two snapshots compared, as `migcheck diff` prints them.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub left: Side,
    pub right: Side,
    pub diff: Diff,
}

/// One side of a [`Comparison`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Side {
    /// How the side is named in text: [`Source::describe`].
    pub source: String,
    pub postgres: Option<String>,
    pub fingerprint: String,
}

impl Comparison {
    pub fn new(sources: &[Source; 2], left: &SnapshotFile, right: &SnapshotFile) -> Comparison {
        let side = |source: &Source, file: &SnapshotFile| Side {
            source: source.describe(),
            postgres: file.postgres.clone(),
            fingerprint: file.fingerprint.clone(),
        };
        Comparison {
            left: side(&sources[0], left),
            right: side(&sources[1], right),
            diff: schema::diff(&left.snapshot, &right.snapshot),
        }
    }

    pub fn equal(&self) -> bool {
        self.diff.is_empty()
    }

    /// The diff for people, then one summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let (Some(l), Some(r)) = (&self.left.postgres, &self.right.postgres)
            && major(l) != major(r)
        {
            out.push_str(&format!(
                "note: the left side was read from PostgreSQL {l} and the right from {r}; \
                 views and defaults may be spelled differently across major versions\n"
            ));
        }
        out.push_str(&self.diff.render(&self.left.source, &self.right.source));
        let total = self.diff.changes.len();
        let minor = self.diff.changes.iter().filter(|c| c.is_minor()).count();
        out.push_str(&match (total, minor) {
            (0, _) => "equal: no differences\n".to_owned(),
            (1, 0) => "1 difference\n".to_owned(),
            (n, 0) => format!("{n} differences\n"),
            (n, m) => format!(
                "{n} difference{} ({m} minor)\n",
                if n == 1 { "" } else { "s" }
            ),
        });
        out
    }

    /// `{"version": 1, "equal": .., "left": Side, "right": Side, "changes": [..]}`.
    pub fn to_json(&self) -> String {
        let value = serde_json::json!({
            "version": 1,
            "equal": self.equal(),
            "left": self.left,
            "right": self.right,
            "changes": self.diff.changes,
        });
        let mut text = serde_json::to_string_pretty(&value).expect("a diff serialises");
        text.push('\n');
        text
    }
}

/// "15.14" → "15".
fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_is_never_shown() {
        let source =
            Source::from_arg("postgres://app:s3cret@db.internal:6543/shop").expect("a DSN");
        assert_eq!(format!("{source:?}"), "Dsn(..)");
        assert_eq!(
            source.describe(),
            "in database shop on db.internal:6543 as app"
        );
        let source =
            Source::from_arg("host=db user=app password=s3cret dbname=shop").expect("a DSN");
        assert!(!source.describe().contains("s3cret"));
    }

    #[test]
    fn version_numbers() {
        assert_eq!(version_number("15.14 (Debian 15.14-0+deb12u1)"), "15.14");
        assert_eq!(version_number("18.4"), "18.4");
    }
}
