//! postgres: the only module that starts or stops servers.
//!
//! A [`Server`] is a throwaway PostgreSQL cluster: made by copying a cached
//! `initdb` directory (`template`), started as a child process (`local`),
//! reached on a Unix socket in its private `migcheck-*` temp directory, and
//! stopped with everything it wrote when dropped, on Ctrl-C or SIGTERM too
//! (`cleanup`). Nothing else in migcheck may spawn, signal or delete a server.
//!
//! Backends: `local` (binaries on this machine). `container` and `dsn` are
//! part of the command line contract but not available in this build yet.

mod binaries;
mod cleanup;
mod copy;
mod error;
mod local;
mod privileges;
mod template;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use cleanup::{interrupted, scratch_root, stop_all};
pub use error::{Looked, PostgresError};

/// Where servers come from: the value of `--pg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgSpec {
    /// The best backend available; in this build, local binaries.
    Auto,
    /// Binaries on this machine; from `bindir` if given, else searched for.
    Local { bindir: Option<PathBuf> },
}

const SUPPORTED: &str = "this build supports --pg auto and --pg local[:BINDIR]";

impl FromStr for PgSpec {
    type Err = String;

    /// Never echoes a DSN: it may hold a password.
    fn from_str(value: &str) -> Result<PgSpec, String> {
        let (kind, argument) = match value.split_once(':') {
            Some((kind, argument)) => (kind, Some(argument)),
            None => (value, None),
        };
        match (kind, argument) {
            ("auto", None) => Ok(PgSpec::Auto),
            ("local", None) => Ok(PgSpec::Local { bindir: None }),
            ("local", Some("")) => Err(format!(
                "--pg local: needs a directory after the colon; {SUPPORTED}"
            )),
            ("local", Some(bindir)) => Ok(PgSpec::Local {
                bindir: Some(PathBuf::from(bindir)),
            }),
            ("container", _) => Err(format!(
                "the container backend is not available yet; {SUPPORTED}"
            )),
            ("dsn", _) => Err(format!("the dsn backend is not available yet; {SUPPORTED}")),
            _ if looks_like_dsn(value) => Err(format!(
                "--pg takes a backend, not a connection string (not shown: it may hold a password); {SUPPORTED}"
            )),
            _ => Err(format!("unknown --pg value {value:?}; {SUPPORTED}")),
        }
    }
}

/// URLs (`postgres://user:secret@host`) and keyword strings
/// (`host=db password=secret`) may carry a password.
fn looks_like_dsn(value: &str) -> bool {
    value.contains("://") || value.contains('@') || value.contains('=')
}

impl fmt::Display for PgSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgSpec::Auto => f.write_str("auto"),
            PgSpec::Local { bindir: None } => f.write_str("local"),
            PgSpec::Local {
                bindir: Some(bindir),
            } => write!(f, "local:{}", bindir.display()),
        }
    }
}

/// Where migcheck keeps what it can rebuild: `$MIGCHECK_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/migcheck`, else `/var/cache/migcheck` for root and
/// `$HOME/.cache/migcheck` for others. Holds `initdb/` (cached clusters) and
/// `pg/<version>/bin` (binaries from `cargo xtask pg install`, found by the
/// local backend). Root's is outside /root because a root migcheck runs
/// those binaries as the `postgres` user, which cannot enter /root.
pub fn cache_dir() -> PathBuf {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = from_env("MIGCHECK_CACHE_DIR") {
        return dir;
    }
    if let Some(dir) = from_env("XDG_CACHE_HOME").filter(|dir| dir.is_absolute()) {
        return dir.join("migcheck");
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/migcheck");
    }
    match from_env("HOME") {
        Some(home) => home.join(".cache").join("migcheck"),
        None => std::env::temp_dir().join("migcheck-cache"),
    }
}

/// A running throwaway cluster. Dropping it stops the server (immediate
/// shutdown) and deletes every file it created; this blocks for a few
/// milliseconds.
#[derive(Debug)]
pub struct Server {
    cluster: local::Cluster,
    binaries: binaries::Binaries,
}

impl Server {
    /// Blocking (call it from `spawn_blocking` inside a runtime). Finds
    /// binaries (of major version `major`, if given), makes a cluster from
    /// the initdb cache (running initdb once per build), starts it and waits
    /// until it accepts connections.
    pub fn start(spec: &PgSpec, major: Option<u32>) -> Result<Server, PostgresError> {
        let bindir = match spec {
            PgSpec::Auto | PgSpec::Local { bindir: None } => None,
            PgSpec::Local {
                bindir: Some(bindir),
            } => Some(bindir.as_path()),
        };
        let binaries = binaries::find(bindir, major)?;
        let run_as = privileges::run_as()?;
        if let Some(user) = &run_as {
            user.check_runnable(&binaries.bindir)?;
        }
        let template = template::template(&binaries, run_as.as_ref())?;
        let cluster = local::Cluster::start(&binaries, &template, run_as.as_ref())?;
        Ok(Server { cluster, binaries })
    }

    /// The server's version as `postgres --version` reports it, e.g. "15.18".
    pub fn version(&self) -> &str {
        &self.binaries.version
    }

    pub fn major(&self) -> u32 {
        self.binaries.major
    }

    pub fn backend(&self) -> &'static str {
        "local"
    }

    pub fn bindir(&self) -> &Path {
        &self.binaries.bindir
    }

    /// The private directory holding the data directory, the Unix socket and
    /// `postgres.log`; gone after drop.
    pub fn dir(&self) -> &Path {
        self.cluster.dir()
    }

    pub fn data_dir(&self) -> &Path {
        self.cluster.data_dir()
    }

    /// TCP port on 127.0.0.1; also names the Unix socket in [`Server::dir`].
    pub fn port(&self) -> u16 {
        self.cluster.port()
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.cluster.pid().unwrap_or(0)
    }

    /// Connection settings for `dbname` as superuser `postgres` on the Unix
    /// socket, for callers that configure more (e.g. timeouts).
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(self.cluster.dir())
            .port(self.cluster.port())
            .user("postgres")
            .dbname(dbname)
            .application_name("migcheck");
        config
    }

    /// Connects to `dbname` and drives the connection on a task spawned
    /// with `tokio::spawn`, so it must be called inside a tokio runtime.
    pub async fn connect(&self, dbname: &str) -> Result<tokio_postgres::Client, PostgresError> {
        Ok(self.connect_with_task(dbname).await?.0)
    }

    /// Like [`Server::connect`], and also returns the connection's task. The
    /// task ends when the server has closed the session: awaiting it after
    /// dropping the client means the backend is gone, so its database can
    /// be dropped at once (DROP DATABASE otherwise polls every 100 ms).
    pub async fn connect_with_task(
        &self,
        dbname: &str,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), PostgresError> {
        let (client, connection) = self
            .config(dbname)
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|error| {
                PostgresError::connect(dbname, self.cluster.dir().to_owned(), error)
            })?;
        // A broken connection surfaces as an error on the client's next call;
        // the task has nobody better to tell.
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok((client, task))
    }

    /// A command line a person can paste into a shell to connect with psql.
    pub fn psql_command(&self, dbname: &str) -> String {
        let psql = self.binaries.program("psql");
        let psql = if psql.is_file() {
            shell_quote(&psql.to_string_lossy())
        } else {
            "psql".to_owned()
        };
        format!(
            "{psql} -h {} -p {} -U postgres -d {}",
            shell_quote(&self.cluster.dir().to_string_lossy()),
            self.cluster.port(),
            shell_quote(dbname),
        )
    }
}

/// Quotes for a POSIX shell only when needed, so common commands stay readable.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/tmp/migcheck-x1"), "/tmp/migcheck-x1");
        assert_eq!(shell_quote("my db"), "'my db'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
