//! postgres: the only module that starts or stops servers.
//!
//! A [`Server`] is a PostgreSQL server from one of three backends:
//! - `local`: a throwaway cluster made by copying a cached `initdb`
//!   directory (`template`), started as a child process (`local`), reached
//!   on a Unix socket in its private `migcheck-*` temp directory;
//! - `container`: a throwaway container of the official image
//!   (`container`), reached over TCP;
//! - `dsn`: an existing server (`dsn`), where migcheck only creates and
//!   drops databases of its own.
//!
//! Whatever a backend starts is stopped, with everything it wrote, when the
//! server is dropped, on Ctrl-C or SIGTERM too (`cleanup`). Nothing else in
//! migcheck may spawn, signal or delete a server.

mod binaries;
mod cleanup;
mod container;
mod copy;
mod dsn;
mod error;
pub(crate) mod globals;
mod local;
mod migrator;
mod privileges;
mod template;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

pub use cleanup::{
    SoftStop, install_handler, interrupted, scratch_root, stop_all, stop_requested,
    wait_for_cleanup,
};
pub use dsn::Dsn;
pub use error::{Looked, PostgresError};
pub use migrator::MIGRATOR;

/// Where servers come from: the value of `--pg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgSpec {
    /// A container when a Docker engine is reachable and has (or can pull)
    /// the image, else local binaries.
    Auto,
    /// Binaries on this machine; from `bindir` if given, else searched for.
    Local { bindir: Option<PathBuf> },
    /// A container of `image`, else of `$MIGCHECK_PG_IMAGE`, else of the
    /// official `postgres:<major>`.
    Container { image: Option<String> },
    /// An existing server. `allow_tables` lets its named database hold
    /// tables (migcheck still works only in databases of its own);
    /// `allow_superuser` lets its user be a superuser, or a member of the
    /// roles that reach the server's host.
    Dsn {
        dsn: Dsn,
        allow_tables: bool,
        allow_superuser: bool,
    },
}

const SUPPORTED: &str = "use --pg auto, local[:BINDIR], container[:IMAGE] or dsn:URL";

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
            ("container", None) => Ok(PgSpec::Container { image: None }),
            ("container", Some("")) => Err(format!(
                "--pg container: needs an image after the colon, e.g. container:postgres:16; {SUPPORTED}"
            )),
            ("container", Some(image)) => Ok(PgSpec::Container {
                image: Some(image.to_owned()),
            }),
            ("dsn", None | Some("")) => Err(format!(
                "--pg dsn: needs a connection string, e.g. dsn:postgres://user@host:5432/postgres; {SUPPORTED}"
            )),
            ("dsn", Some(url)) => Ok(PgSpec::Dsn {
                dsn: url.parse()?,
                allow_tables: false,
                allow_superuser: false,
            }),
            _ if looks_like_dsn(value) => Err(
                "--pg takes a backend, not a connection string (not shown: it may hold a password); \
                 write dsn:URL"
                    .to_owned(),
            ),
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
            PgSpec::Container { image: None } => f.write_str("container"),
            PgSpec::Container { image: Some(image) } => write!(f, "container:{image}"),
            PgSpec::Dsn { dsn, .. } => write!(f, "dsn:{dsn}"),
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

/// A running server. Dropping it stops and removes what migcheck started
/// (a cluster and its files, a container); this blocks for a moment.
#[derive(Debug)]
pub struct Server {
    backend: Backend,
    version: String,
    major: u32,
    /// The role migrations run as on a server migcheck started; `None` on
    /// an existing server, where they run as the URL's user.
    migrator: Option<migrator::Migrator>,
}

#[derive(Debug)]
enum Backend {
    Local {
        cluster: local::Cluster,
        binaries: binaries::Binaries,
    },
    /// Boxed: testcontainers' handle is large.
    Container(Box<container::Container>),
    Dsn(dsn::Existing),
}

impl Server {
    /// Blocking, and must not be called inside a tokio runtime (the
    /// container backend runs one of its own). Starts a server of major
    /// version `major`, if given, from the backend `spec` names.
    pub fn start(spec: &PgSpec, major: Option<u32>) -> Result<Server, PostgresError> {
        reap_leftovers();
        match spec {
            PgSpec::Local { bindir } => Server::start_local(bindir.as_deref(), major),
            PgSpec::Container { image } => Server::start_container(image.as_deref(), major),
            PgSpec::Dsn {
                dsn,
                allow_tables,
                allow_superuser,
            } => {
                let allowed = dsn::Allowed {
                    tables: *allow_tables,
                    superuser: *allow_superuser,
                };
                let existing = dsn::Existing::check(dsn, allowed)?;
                if let Some(wanted) = major.filter(|&wanted| wanted != existing.major) {
                    return Err(PostgresError::DsnVersion {
                        dsn: dsn.to_string(),
                        found: existing.version,
                        wanted,
                    });
                }
                Ok(Server {
                    version: existing.version.clone(),
                    major: existing.major,
                    backend: Backend::Dsn(existing),
                    migrator: None,
                })
            }
            PgSpec::Auto => match auto_backend(major) {
                Ok(()) => Server::start_container(None, major),
                Err(docker) => {
                    Server::start_local(None, major).map_err(|local| PostgresError::NoBackend {
                        container: Box::new(docker),
                        local: Box::new(local),
                    })
                }
            },
        }
    }

    /// Finds binaries, makes a cluster from the initdb cache (running
    /// initdb once per build), starts it and waits until it accepts
    /// connections.
    fn start_local(bindir: Option<&Path>, major: Option<u32>) -> Result<Server, PostgresError> {
        let binaries = binaries::find(bindir, major)?;
        let run_as = privileges::run_as()?;
        if let Some(user) = &run_as {
            user.check_runnable(&binaries.bindir)?;
        }
        let template = template::template(&binaries, run_as.as_ref())?;
        let cluster = local::Cluster::start(&binaries, &template, run_as.as_ref())?;
        Ok(Server {
            version: binaries.version.clone(),
            major: binaries.major,
            backend: Backend::Local { cluster, binaries },
            migrator: Some(migrator::Migrator::new(None)),
        })
    }

    fn start_container(image: Option<&str>, major: Option<u32>) -> Result<Server, PostgresError> {
        let image = container::image_for(image, major);
        let container = container::Container::start(&image)?;
        let mut server = Server {
            backend: Backend::Container(Box::new(container)),
            version: String::new(),
            major: 0,
            migrator: None,
        };
        let (version, found) = server.ask_version()?;
        if let Some(wanted) = major.filter(|&wanted| wanted != found) {
            return Err(PostgresError::ImageVersion {
                image,
                found: version,
                wanted,
            });
        }
        (server.version, server.major) = (version, found);
        // Reached over TCP: the role needs a password of its own.
        server.migrator = Some(migrator::Migrator::new(Some(container::password())));
        Ok(server)
    }

    /// Makes sure the role migrations run as exists, through `admin`, a
    /// superuser's connection; before the first database migcheck gives
    /// it.
    pub(crate) async fn ensure_migrator(
        &self,
        admin: &tokio_postgres::Client,
    ) -> Result<(), tokio_postgres::Error> {
        match &self.migrator {
            Some(migrator) => migrator.ensure(admin).await,
            None => Ok(()),
        }
    }

    /// `server_version` (its first word: Debian appends the package) and
    /// the major from `server_version_num`.
    fn ask_version(&self) -> Result<(String, u32), PostgresError> {
        let runtime = crate::runtime()
            .map_err(|error| PostgresError::io("start a runtime for", "the server", error))?;
        runtime.block_on(async {
            let client = self.connect(&self.admin_database()).await?;
            let row = client
                .query_one(
                    "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
                    &[],
                )
                .await
                .map_err(|error| PostgresError::connect("postgres", self.location(), error))?;
            let version: String = row.get(0);
            let number: i32 = row.get(1);
            Ok((
                version.split_whitespace().next().unwrap_or_default().to_owned(),
                (number / 10000) as u32,
            ))
        })
    }

    /// The server's version, e.g. "15.18".
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn major(&self) -> u32 {
        self.major
    }

    /// `local`, `container` or `dsn`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Local { .. } => "local",
            Backend::Container(_) => "container",
            Backend::Dsn(_) => "dsn",
        }
    }

    /// Where the server comes from, for people: the binaries' directory,
    /// the image, or the URL without its password.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Local { binaries, .. } => binaries.bindir.display().to_string(),
            Backend::Container(container) => container.image.clone(),
            Backend::Dsn(existing) => existing.location(),
        }
    }

    /// The database migcheck connects to for administration (creating and
    /// dropping its own databases): `postgres`, or the one the URL names.
    pub fn admin_database(&self) -> String {
        match &self.backend {
            Backend::Dsn(existing) => existing.admin_database.clone(),
            _ => "postgres".to_owned(),
        }
    }

    /// Whether databases migcheck creates outlive the server (an existing
    /// server): they must then be dropped one by one, on Ctrl-C too.
    pub(crate) fn shared(&self) -> bool {
        matches!(self.backend, Backend::Dsn(_))
    }

    /// Registers a database just created on a shared server for removal on
    /// Ctrl-C; drop the guard once the database is dropped.
    pub(crate) fn guard_database(&self, name: &str) -> Option<DatabaseGuard> {
        self.shared().then(|| {
            let config = self.config(&self.admin_database());
            let name = name.to_owned();
            DatabaseGuard(Some(cleanup::RemoteGuard::register(cleanup::Remote::new(
                move || async move {
                    dsn::drop_database(&config, &name).await;
                },
            ))))
        })
    }

    /// On an existing server, names this process as the owner of
    /// `database`, which `admin` just created, so that a later run drops it
    /// if this one is killed (see `dsn`). Nothing on a throwaway server,
    /// which goes as a whole.
    pub(crate) async fn record_owner(
        &self,
        admin: &tokio_postgres::Client,
        database: &str,
    ) -> Result<(), tokio_postgres::Error> {
        match self.shared() {
            true => dsn::record_owner(admin, database).await,
            false => Ok(()),
        }
    }

    fn local(&self) -> Option<(&local::Cluster, &binaries::Binaries)> {
        match &self.backend {
            Backend::Local { cluster, binaries } => Some((cluster, binaries)),
            _ => None,
        }
    }

    /// The local backend's binaries.
    pub fn bindir(&self) -> Option<&Path> {
        self.local().map(|(_, binaries)| binaries.bindir.as_path())
    }

    /// The local backend's private directory holding the data directory,
    /// the Unix socket and `postgres.log`; gone after drop.
    pub fn dir(&self) -> Option<&Path> {
        self.local().map(|(cluster, _)| cluster.dir())
    }

    pub fn data_dir(&self) -> Option<&Path> {
        self.local().map(|(cluster, _)| cluster.data_dir())
    }

    /// The port: for a local cluster it only names the Unix socket in
    /// [`Server::dir`] (nothing listens on TCP); the published port of a
    /// container (on 127.0.0.1 with a local Docker engine); the URL's port.
    pub fn port(&self) -> u16 {
        match &self.backend {
            Backend::Local { cluster, .. } => cluster.port(),
            Backend::Container(container) => container.port,
            Backend::Dsn(existing) => existing
                .config("")
                .get_ports()
                .first()
                .copied()
                .unwrap_or(5432),
        }
    }

    /// The local postmaster's process id.
    pub fn pid(&self) -> Option<u32> {
        self.local().and_then(|(cluster, _)| cluster.pid())
    }

    /// Connection settings for `dbname` as the backend's superuser (or the
    /// URL's user), for callers that configure more (e.g. timeouts).
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        match &self.backend {
            Backend::Local { cluster, .. } => {
                let mut config = tokio_postgres::Config::new();
                config
                    .host_path(cluster.dir())
                    .port(cluster.port())
                    .user("postgres")
                    .dbname(dbname)
                    .application_name("migcheck");
                config
            }
            Backend::Container(container) => container.config(dbname),
            Backend::Dsn(existing) => existing.config(dbname),
        }
    }

    /// Connection settings for `dbname` as the role migrations run as:
    /// [`MIGRATOR`] on a server migcheck started, the URL's user on an
    /// existing one.
    pub fn migrator_config(&self, dbname: &str) -> tokio_postgres::Config {
        let config = self.config(dbname);
        match &self.migrator {
            Some(migrator) => migrator.config(config),
            None => config,
        }
    }

    /// Whether migrations run as [`MIGRATOR`], a role of migcheck's own
    /// that is not a superuser (a server migcheck started), and migcheck
    /// connects as a superuser; on an existing server both are the URL's
    /// user.
    pub(crate) fn has_migrator(&self) -> bool {
        self.migrator.is_some()
    }

    /// The `OWNER` clause of the databases migcheck creates (empty when
    /// the user that creates them owns them): owned by the migration role,
    /// which may then create schemas, and install trusted extensions, in
    /// its own database and nowhere else.
    pub(crate) fn owner_clause(&self) -> String {
        match &self.migrator {
            Some(_) => format!(" OWNER {MIGRATOR}"),
            None => String::new(),
        }
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
        self.connect_config(self.config(dbname), dbname).await
    }

    /// Like [`Server::connect_with_task`], with settings the caller adjusted
    /// (session options such as timeouts) on a [`Server::config`].
    pub async fn connect_config(
        &self,
        config: tokio_postgres::Config,
        dbname: &str,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), PostgresError> {
        connect_on_task(&config)
            .await
            .map_err(|error| PostgresError::connect(dbname, self.place(), error))
    }

    /// Where connections go, for error messages.
    fn place(&self) -> String {
        match &self.backend {
            Backend::Local { cluster, .. } => cluster.dir().display().to_string(),
            Backend::Container(container) => {
                format!(
                    "{}:{} ({})",
                    container.host, container.port, container.image
                )
            }
            Backend::Dsn(existing) => existing.location(),
        }
    }

    /// A command line a person can paste into a shell to connect with psql.
    /// For an existing server the password is left to the user (PGPASSWORD
    /// or ~/.pgpass), never printed.
    pub fn psql_command(&self, dbname: &str) -> String {
        let psql = self
            .bindir()
            .map(|bindir| bindir.join("psql"))
            .filter(|psql| psql.is_file())
            .map_or_else(
                || "psql".to_owned(),
                |psql| shell_quote(&psql.to_string_lossy()),
            );
        match &self.backend {
            Backend::Local { cluster, .. } => format!(
                "{psql} -h {} -p {} -U postgres -d {}",
                shell_quote(&cluster.dir().to_string_lossy()),
                cluster.port(),
                shell_quote(dbname),
            ),
            Backend::Container(container) => format!(
                "PGPASSWORD={} {psql} -h {} -p {} -U postgres -d {}",
                container.password,
                shell_quote(&container.host),
                container.port,
                shell_quote(dbname),
            ),
            Backend::Dsn(existing) => {
                let config = existing.config(dbname);
                let url = dsn::Dsn::from(config).to_string();
                format!("{psql} {}", shell_quote(&url))
            }
        }
    }
}

impl Server {
    /// Leaves the server running after migcheck exits (`--keep-failed`) and
    /// returns how to remove it: a local cluster keeps its directory (marked
    /// kept: later runs leave it alone) and stays reachable through its
    /// socket only, by this user; a container stays until removed (or until
    /// the next migcheck run on this host removes it as a leftover); an
    /// existing server is not migcheck's to stop, only the databases kept
    /// on it are left.
    pub fn keep(self) -> String {
        match self.backend {
            Backend::Local { cluster, .. } => {
                let (dir, pid) = cluster.keep();
                let dir = shell_quote(&dir.to_string_lossy());
                match pid {
                    Some(pid) => format!(
                        "kill -QUIT {pid}; while kill -0 {pid} 2>/dev/null; do sleep 0.1; done; rm -rf {dir}"
                    ),
                    None => format!("rm -rf {dir}"),
                }
            }
            Backend::Container(container) => format!("docker rm -f {}", container.keep()),
            Backend::Dsn(_) => "drop the kept databases (DROP DATABASE ...) when done".into(),
        }
    }
}

/// Ends one backend from a connection of migcheck's own: for a statement
/// that outlives its timeout and the cancel after it (a PL/pgSQL loop that
/// catches `query_canceled` defeats both).
#[derive(Debug, Clone)]
pub struct Terminator {
    /// A superuser's (or on an existing server the URL user's, the role
    /// the backend runs as: a role may end its own sessions).
    config: tokio_postgres::Config,
    pid: i32,
}

impl Terminator {
    /// The backend's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Ends the backend; its client then fails with a closed connection.
    pub async fn terminate(&self) {
        let Ok((client, task)) = connect_on_task(&self.config).await else {
            return;
        };
        let _ = client
            .execute("SELECT pg_terminate_backend($1)", &[&self.pid])
            .await;
        drop(client);
        let _ = task.await;
    }
}

impl Server {
    /// How to end the backend behind `client`, a session on this server.
    pub async fn terminator(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<Terminator, tokio_postgres::Error> {
        let pid = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        Ok(Terminator {
            config: self.config(&self.admin_database()),
            pid,
        })
    }
}

/// A database migcheck created on an existing server: dropped on Ctrl-C,
/// and when the guard is dropped without [`DatabaseGuard::disarm`] (an
/// error or a panic on the way).
#[derive(Debug)]
pub struct DatabaseGuard(Option<cleanup::RemoteGuard>);

impl DatabaseGuard {
    /// The database is gone: nothing left to do.
    pub fn disarm(mut self) {
        self.0.take();
    }
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        if let Some(guard) = self.0.take() {
            guard.remove_now();
        }
    }
}

/// Connects as `config` says, without TLS, and drives the connection on a
/// task spawned with `tokio::spawn`, so it must be called inside a tokio
/// runtime: every connection migcheck makes is made here. A broken
/// connection surfaces as an error on the client's next call; the task has
/// nobody better to tell. The task ends when the server has closed the
/// session: awaiting it after dropping the client means the backend is
/// gone.
pub(crate) async fn connect_on_task(
    config: &tokio_postgres::Config,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, task))
}

/// Once per process, before its first server: removes what runs killed on
/// this host left (`cleanup::reap_dirs`: clusters and initdb directories
/// whose owner is gone, and the initdb cache's abandoned staging copies),
/// whatever the backend; and, on a thread of its own so that no run waits
/// for a Docker engine, such runs' containers.
fn reap_leftovers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let server_uid = privileges::run_as().ok().flatten().map(|user| user.uid);
        cleanup::reap_dirs(server_uid);
        template::remove_abandoned(&cache_dir().join("initdb"));
        container::reap_in_background();
    });
}

/// Resolves `--pg auto` once per process and major: `Ok` when a container
/// can be started (the engine answers and has or can pull the image), else
/// why not.
fn auto_backend(major: Option<u32>) -> Result<(), PostgresError> {
    static DECIDED: Mutex<Vec<(Option<u32>, bool)>> = Mutex::new(Vec::new());
    let mut decided = DECIDED.lock().unwrap_or_else(|p| p.into_inner());
    let image = container::image_for(None, major);
    let probe = || -> Result<(), PostgresError> {
        let runtime = crate::runtime()
            .map_err(|error| PostgresError::io("start a runtime for", "Docker", error))?;
        let present = runtime.block_on(async {
            let docker = container::reachable().await?;
            Ok::<_, PostgresError>(container::image_present(&docker, &image).await)
        })?;
        match present {
            true => Ok(()),
            false => container::pull(&image),
        }
    };
    if let Some((_, usable)) = decided.iter().find(|(m, _)| *m == major) {
        return match usable {
            true => Ok(()),
            false => Err(PostgresError::Container {
                image,
                action: "use",
                message: "not usable earlier in this run".into(),
            }),
        };
    }
    let result = probe();
    decided.push((major, result.is_ok()));
    result
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

/// Starts a server of each of `majors` (the backend's default when empty),
/// one after the other, and hands it to `each`, which stops it by dropping
/// it (or keeps it, see `Server::keep`).
pub fn for_each_major<T, E: From<PostgresError>>(
    pg: &PgSpec,
    majors: &[u32],
    mut each: impl FnMut(Server) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let majors: Vec<Option<u32>> = match majors {
        [] => vec![None],
        majors => majors.iter().copied().map(Some).collect(),
    };
    let mut results = Vec::new();
    for major in majors {
        // Started outside any runtime: the container backend blocks on
        // one of its own.
        let server = Server::start(pg, major)?;
        results.push(each(server)?);
    }
    Ok(results)
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
