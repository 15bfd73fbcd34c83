//! Why migcheck could not get or reach a server.
//!
//! Every variant names its context in fields. The cause is either a
//! `#[source]` or part of the message, never both, so a `{:#}` chain prints it
//! once. Nothing here may carry a password: DSNs are never stored.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// A directory named explicitly (`--pg local:DIR` or `MIGCHECK_PG_BINDIR`)
    /// does not hold usable binaries. Never silently replaced by another one.
    #[error(
        "{origin}{bindir}: {problem}; pass the directory that holds initdb and postgres, \
         e.g. --pg local:/usr/lib/postgresql/16/bin",
        bindir = bindir.display()
    )]
    BadBindir {
        origin: &'static str,
        bindir: PathBuf,
        problem: String,
    },

    #[error("{}", no_binaries_message(*wanted, looked))]
    NoBinaries {
        wanted: Option<u32>,
        looked: Vec<Looked>,
    },

    #[error(
        "{origin}{bindir}: that is PostgreSQL {found}, but major version {wanted} was asked for",
        bindir = bindir.display()
    )]
    WrongVersion {
        origin: &'static str,
        bindir: PathBuf,
        found: String,
        wanted: u32,
    },

    #[error("could not run {program}", program = program.display())]
    Run {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("initdb ({bindir}) failed with {status}:\n{output}", bindir = bindir.display())]
    Initdb {
        bindir: PathBuf,
        status: String,
        output: String,
    },

    #[error("could not {action} {path}", path = path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "migcheck runs as root, and initdb and postgres refuse to; there is no `{user}` system \
         user to run them as: create one (e.g. `useradd --system --user-group {user}`) or run \
         migcheck as a non-root user"
    )]
    NoUnprivilegedUser { user: &'static str },

    #[error(
        "postgres runs as the `{user}` user, which cannot enter {dir}: let it (chmod o+x) or set \
         TMPDIR to a directory it can reach, such as /tmp",
        dir = dir.display()
    )]
    NotTraversable { user: String, dir: PathBuf },

    #[error(
        "migcheck runs as root, so postgres runs as the `{user}` user, which cannot enter \
         {blocked} on the way to the binaries in {bindir}: install them where it can (as root, \
         `cargo xtask pg install` uses /var/cache/migcheck unless MIGCHECK_CACHE_DIR or \
         XDG_CACHE_HOME say otherwise) or let it in (chmod o+x {blocked})",
        blocked = blocked.display(),
        bindir = bindir.display()
    )]
    BinariesUnreachable {
        user: String,
        bindir: PathBuf,
        blocked: PathBuf,
    },

    #[error(
        "socket path {path} is longer than the {max} bytes a Unix socket path may have; set \
         TMPDIR to a shorter directory",
        path = path.display()
    )]
    SocketPathTooLong { path: PathBuf, max: usize },

    #[error(
        "{name}={value:?} is not a size; write e.g. 512MB, 2GB or 8GiB (powers of 1024), or off"
    )]
    BadSize { name: &'static str, value: String },

    /// A signal is stopping migcheck: nothing new is created or started.
    #[error("migcheck is stopping (interrupted)")]
    Stopping,

    #[error(
        "postgres {version} exited with {status} before it was ready (the cluster was copied \
         from {template}; delete that directory if it is damaged, it is rebuilt on the next \
         run). Last lines of its log:\n{log_tail}",
        template = template.display()
    )]
    Exited {
        version: String,
        status: String,
        template: PathBuf,
        log_tail: String,
    },

    #[error(
        "postgres {version} was not ready after {waited:?}. Last lines of its log:\n{log_tail}"
    )]
    NotReady {
        version: String,
        waited: Duration,
        log_tail: String,
    },

    #[error(
        "the Docker engine at {host} is not reachable ({message}); containers need one: start \
         it, set DOCKER_HOST to one that runs, or use local binaries with --pg local"
    )]
    DockerUnreachable { host: String, message: String },

    #[error(
        "could not {action} a container of {image}: {message}; the image must be present on \
         the Docker engine or pullable: pull or build it, or name another with \
         --pg container:IMAGE or MIGCHECK_PG_IMAGE"
    )]
    Container {
        image: String,
        action: &'static str,
        message: String,
    },

    #[error(
        "the container of {image} stopped before it was ready. Last lines of its log:\n{log_tail}"
    )]
    ContainerExited { image: String, log_tail: String },

    #[error("the image {image} runs PostgreSQL {found}, but major version {wanted} was asked for")]
    ImageVersion {
        image: String,
        found: String,
        wanted: u32,
    },

    /// `--pg auto` found neither way to get a server.
    #[error(
        "no way to start a PostgreSQL server here:\n  - containers: {container}\n  - local \
         binaries: {local}"
    )]
    NoBackend {
        container: Box<PostgresError>,
        local: Box<PostgresError>,
    },

    /// An existing server (`--pg dsn:`) that cannot be used; `dsn` is shown
    /// without its password.
    #[error("--pg dsn:{dsn}: {problem}")]
    Dsn { dsn: String, problem: String },

    #[error(
        "{dsn} runs PostgreSQL {found}, but major version {wanted} was asked for; an existing \
         server has one version: drop --pg-version or name its major"
    )]
    DsnVersion {
        dsn: String,
        found: String,
        wanted: u32,
    },

    /// Cluster-wide objects (roles, replication slots, ...) that a case
    /// created and that could not be removed, each with why.
    #[error(
        "could not remove what a migration created outside its database: {}; remove it by hand",
        left.join("; ")
    )]
    Globals { left: Vec<String> },

    /// The server answered the connection attempt with an error.
    #[error("could not connect to database {dbname:?} on {place}: {message} (SQLSTATE {sqlstate})")]
    ConnectRefused {
        dbname: String,
        /// The socket directory, container or server (never a password).
        place: String,
        sqlstate: String,
        message: String,
    },

    /// The connection itself failed (socket, protocol).
    #[error("could not connect to database {dbname:?} on {place}")]
    Connect {
        dbname: String,
        place: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// One place searched for binaries, and what was there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked {
    /// Where the candidate came from, e.g. `pg_config --bindir`.
    pub place: String,
    /// What was found, e.g. `/usr/lib/postgresql/15/bin: PostgreSQL 15.18`.
    pub found: String,
}

impl fmt::Display for Looked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.found)
    }
}

fn no_binaries_message(wanted: Option<u32>, looked: &[Looked]) -> String {
    let what = match wanted {
        Some(major) => format!("PostgreSQL {major} server binaries"),
        None => "PostgreSQL server binaries".to_owned(),
    };
    let package = match wanted {
        Some(major) => format!("postgresql-{major}"),
        None => "postgresql".to_owned(),
    };
    let mut message = format!("no {what} (initdb and postgres) found. Looked at:\n");
    for place in looked {
        message.push_str(&format!("  - {place}\n"));
    }
    message.push_str(&format!(
        "Install PostgreSQL (e.g. `apt-get install {package}`), pass --pg local:/path/to/bin, \
         or set MIGCHECK_PG_BINDIR=/path/to/bin"
    ));
    message
}

impl PostgresError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        PostgresError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// tokio-postgres repeats a database error in both `Display` and
    /// `source()`; keep its SQLSTATE and message once, as fields.
    pub(crate) fn connect(dbname: &str, place: String, error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(db) => PostgresError::ConnectRefused {
                dbname: dbname.to_owned(),
                place,
                sqlstate: db.code().code().to_owned(),
                message: db.message().to_owned(),
            },
            None => PostgresError::Connect {
                dbname: dbname.to_owned(),
                place,
                source: error,
            },
        }
    }
}
