//! The dsn backend: an existing server that migcheck did not start.
//!
//! migcheck works only in databases it creates there (`migcheck_*`, made by
//! the sandboxes) and drops only those, on drop and on Ctrl-C. The database
//! the URL names is used to connect and is never written to; one that holds
//! tables is refused unless the user says otherwise, because a URL that
//! points at a real database is more likely a mistake than a test server.
//!
//! A URL may carry a password: it is parsed once into a
//! `tokio_postgres::Config` and never printed, only the host, port, user and
//! database are.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;

use super::error::PostgresError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection string from `--pg dsn:URL`; `Debug` and `Display` leave
/// the password out.
#[derive(Clone)]
pub struct Dsn {
    /// Boxed: a Config is ten times the size of the other `--pg` values.
    config: Box<tokio_postgres::Config>,
}

impl FromStr for Dsn {
    type Err = String;

    fn from_str(url: &str) -> Result<Dsn, String> {
        let config = tokio_postgres::Config::from_str(url).map_err(|error| {
            // The parser's messages name a key or a character class, never
            // the value, so they are safe to show.
            format!(
                "not a valid connection string ({error}); e.g. dsn:postgres://user@host:5432/db"
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err(
                "the connection string names no host; e.g. dsn:postgres://user@host:5432/db".into(),
            );
        }
        Ok(Dsn {
            config: Box::new(config),
        })
    }
}

impl From<tokio_postgres::Config> for Dsn {
    fn from(config: tokio_postgres::Config) -> Dsn {
        Dsn {
            config: Box::new(config),
        }
    }
}

impl PartialEq for Dsn {
    fn eq(&self, other: &Dsn) -> bool {
        // Config has no PartialEq; its Debug output holds every field.
        format!("{:?}", self.config) == format!("{:?}", other.config)
    }
}

impl Eq for Dsn {}

impl fmt::Display for Dsn {
    /// `postgres://user@host:port/db`, without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        write!(
            f,
            "postgres://{}@{host}:{port}/{}",
            self.config.get_user().unwrap_or(""),
            admin_database(&self.config)
        )
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({self})")
    }
}

/// The database the URL names (libpq's default: the user's name).
fn admin_database(config: &tokio_postgres::Config) -> String {
    config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres")
        .to_owned()
}

/// An existing server, checked to be usable.
#[derive(Debug)]
pub(crate) struct Existing {
    dsn: Dsn,
    pub admin_database: String,
    pub version: String,
    pub major: u32,
}

impl Existing {
    /// Connects, and refuses a role that cannot create databases or a
    /// database that holds tables (unless `allow_tables`). Blocking; must
    /// not be called inside a tokio runtime.
    pub fn check(dsn: &Dsn, allow_tables: bool) -> Result<Existing, PostgresError> {
        let runtime = crate::runtime().map_err(|error| PostgresError::Dsn {
            dsn: dsn.to_string(),
            problem: format!("cannot start a runtime: {error}"),
        })?;
        runtime.block_on(Existing::check_async(dsn, allow_tables))
    }

    async fn check_async(dsn: &Dsn, allow_tables: bool) -> Result<Existing, PostgresError> {
        let refused = |problem: String| PostgresError::Dsn {
            dsn: dsn.to_string(),
            problem,
        };
        let admin_database = admin_database(&dsn.config);
        let mut config = (*dsn.config).clone();
        config
            .application_name("migcheck")
            .connect_timeout(CONNECT_TIMEOUT);
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|error| refused(format!("cannot connect: {}", describe(&error))))?;
        let task = tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT current_setting('server_version'), \
                        current_setting('server_version_num')::int, \
                        rolsuper OR rolcreatedb, \
                        (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                          WHERE c.relkind IN ('r', 'p') \
                            AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                            AND n.nspname NOT LIKE 'pg\\_toast%') \
                   FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .map_err(|error| refused(describe(&error)))?;
        drop(client);
        let _ = task.await;
        let version: String = row.get(0);
        let number: i32 = row.get(1);
        let can_create: bool = row.get(2);
        let tables: i64 = row.get(3);
        if !can_create {
            return Err(refused(
                "the role may not create databases; migcheck works in databases of its own: \
                 grant it CREATEDB (ALTER ROLE ... CREATEDB) or use a role that has it"
                    .into(),
            ));
        }
        if tables > 0 && !allow_tables {
            return Err(refused(format!(
                "database {admin_database:?} holds {tables} table(s); migcheck would not touch \
                 them (it works in its own migcheck_* databases), but a URL that names a \
                 database in use is usually a mistake: point it at an empty database (such as \
                 postgres on a test server) or pass --dsn-allow-tables"
            )));
        }
        Ok(Existing {
            dsn: dsn.clone(),
            admin_database,
            version: version
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
            major: (number / 10000) as u32,
        })
    }

    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = (*self.dsn.config).clone();
        config
            .dbname(dbname)
            .application_name("migcheck")
            .connect_timeout(CONNECT_TIMEOUT);
        config
    }

    pub fn location(&self) -> String {
        self.dsn.to_string()
    }
}

/// The server's message, without anything from the URL.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// Drops a database migcheck created, for the signal handler.
pub(crate) async fn drop_database(config: &tokio_postgres::Config, name: &str) {
    let Ok((client, connection)) = config.connect(tokio_postgres::NoTls).await else {
        return;
    };
    let task = tokio::spawn(connection);
    let _ = client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    drop(client);
    let _ = task.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_leaves_the_password_out() {
        let dsn: Dsn = "postgres://app:s3cret@db.example:6543/app_test"
            .parse()
            .expect("a valid URL");
        assert_eq!(dsn.to_string(), "postgres://app@db.example:6543/app_test");
        assert!(!format!("{dsn:?}").contains("s3cret"));
        let dsn: Dsn = "host=db user=app password=s3cret".parse().expect("valid");
        assert_eq!(dsn.to_string(), "postgres://app@db:5432/app");
    }

    #[test]
    fn bad_strings_are_refused_without_echo() {
        let error = "postgres://app:s3cret@db:notaport/x"
            .parse::<Dsn>()
            .expect_err("bad port");
        assert!(!error.contains("s3cret"), "{error}");
        let error = "user=app password=s3cret"
            .parse::<Dsn>()
            .expect_err("no host");
        assert!(error.contains("no host"), "{error}");
    }
}
