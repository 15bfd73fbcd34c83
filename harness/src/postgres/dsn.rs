//! The dsn backend: an existing server that migcheck did not start.
//!
//! migcheck works only in databases it creates there (`migcheck_*`, made by
//! the sandboxes) and drops only those, on drop and on Ctrl-C. The database
//! the URL names is used to connect; one that holds
//! tables is refused unless the user says otherwise, because a URL that
//! points at a real database is more likely a mistake than a test server.
//!
//! The URL's user runs the migrations, so it must not hold more than a
//! managed server would give: a superuser, or a member of the roles that
//! reach the server's host (`pg_execute_server_program`, server files), is
//! refused unless `--dsn-allow-superuser` says the server is a throwaway.
//!
//! Each database migcheck creates gets a comment naming its owner (host,
//! boot, pid namespace, pid, start time); at start, databases whose owner
//! is a dead process of this machine are dropped: what a killed run left.
//! The database the URL names may also be written to for the cluster-wide
//! objects a case made (`globals`: `DROP OWNED BY` those roles).
//!
//! A URL may carry a password: it is parsed once into a
//! `tokio_postgres::Config` and never printed, only the host, port, user and
//! database are.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;

use super::cleanup::{Owner, pid_namespace};
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

/// The predefined roles whose members act on the server's host.
const HOST_ROLES: [&str; 3] = [
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
];

/// What `--dsn-allow-tables` and `--dsn-allow-superuser` let through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Allowed {
    /// The URL's database may hold tables.
    pub tables: bool,
    /// The URL's user may be a superuser, or hold host-reaching roles.
    pub superuser: bool,
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
    /// Connects, refuses a role that cannot create databases, one with the
    /// powers of a superuser (unless `allowed.superuser`) or a database
    /// that holds tables (unless `allowed.tables`), then drops what dead
    /// runs of this host left ([`reap`]). Blocking; must not be called
    /// inside a tokio runtime.
    pub fn check(dsn: &Dsn, allowed: Allowed) -> Result<Existing, PostgresError> {
        let runtime = crate::runtime().map_err(|error| PostgresError::Dsn {
            dsn: dsn.to_string(),
            problem: format!("cannot start a runtime: {error}"),
        })?;
        runtime.block_on(Existing::check_async(dsn, allowed))
    }

    async fn check_async(dsn: &Dsn, allowed: Allowed) -> Result<Existing, PostgresError> {
        let mut config = (*dsn.config).clone();
        config
            .application_name("migcheck")
            .connect_timeout(CONNECT_TIMEOUT);
        let (client, task) =
            super::connect_on_task(&config)
                .await
                .map_err(|error| PostgresError::Dsn {
                    dsn: dsn.to_string(),
                    problem: format!("cannot connect: {}", describe(&error)),
                })?;
        let checked = Existing::check_with(&client, dsn, allowed).await;
        // Whatever the outcome: the session ends before the check returns.
        drop(client);
        let _ = task.await;
        checked
    }

    /// [`Existing::check`]'s queries, refusals and [`reap`], on `client`.
    async fn check_with(
        client: &tokio_postgres::Client,
        dsn: &Dsn,
        allowed: Allowed,
    ) -> Result<Existing, PostgresError> {
        let refused = |problem: String| PostgresError::Dsn {
            dsn: dsn.to_string(),
            problem,
        };
        let admin_database = admin_database(&dsn.config);
        let row = client
            .query_one(
                "SELECT current_setting('server_version'), \
                        current_setting('server_version_num')::int, \
                        rolsuper OR rolcreatedb, \
                        (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                          WHERE c.relkind IN ('r', 'p') \
                            AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                            AND n.nspname NOT LIKE 'pg\\_toast%'), \
                        rolsuper, \
                        (SELECT string_agg(r.rolname, ', ' ORDER BY r.rolname) FROM pg_roles r \
                          WHERE (r.rolsuper OR r.rolname = ANY ($1)) AND r.rolname <> current_user \
                            AND pg_has_role(current_user, r.oid, 'MEMBER')), \
                        rolcreaterole, current_user::text \
                   FROM pg_roles WHERE rolname = current_user",
                &[&HOST_ROLES.as_slice()],
            )
            .await
            .map_err(|error| refused(describe(&error)))?;
        let version: String = row.get(0);
        let number: i32 = row.get(1);
        let can_create: bool = row.get(2);
        let tables: i64 = row.get(3);
        let superuser: bool = row.get(4);
        let member_of: Option<String> = row.get(5);
        let create_role: bool = row.get(6);
        let user: String = row.get(7);
        let powers = if superuser {
            Some(format!("role {user:?} is a superuser"))
        } else if let Some(roles) = member_of {
            Some(format!("role {user:?} is a member of {roles}"))
        } else if create_role && number < 160000 {
            // Before 16, CREATEROLE may grant itself any role but a
            // superuser, such as pg_execute_server_program.
            Some(format!(
                "role {user:?} has CREATEROLE, with which it can grant itself \
                 pg_execute_server_program before PostgreSQL 16"
            ))
        } else {
            None
        };
        if let (Some(powers), false) = (powers, allowed.superuser) {
            return Err(refused(format!(
                "{powers}: migrations (from a pull request, say) would run with the power to \
                 change the whole cluster (other databases through dblink, roles, replication \
                 slots) and to run programs on the server's host. Connect as a dedicated role \
                 that may create databases and nothing more (CREATE ROLE migcheck LOGIN \
                 CREATEDB), or pass --dsn-allow-superuser if the whole server is a throwaway"
            )));
        }
        if !can_create {
            return Err(refused(
                "the role may not create databases; migcheck works in databases of its own: \
                 grant it CREATEDB (ALTER ROLE ... CREATEDB) or use a role that has it"
                    .into(),
            ));
        }
        if tables > 0 && !allowed.tables {
            return Err(refused(format!(
                "database {admin_database:?} holds {tables} table(s); migcheck would not touch \
                 them (it works in its own migcheck_* databases), but a URL that names a \
                 database in use is usually a mistake: point it at an empty database (such as \
                 postgres on a test server) or pass --dsn-allow-tables"
            )));
        }
        reap(client).await;
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
pub(super) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// Drops a database migcheck created, for the signal handler.
pub(crate) async fn drop_database(config: &tokio_postgres::Config, name: &str) {
    let Ok((client, task)) = super::connect_on_task(config).await else {
        return;
    };
    let _ = client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    drop(client);
    let _ = task.await;
}

/// The comment that names the process owning a database migcheck created
/// on an existing server (`migcheck owner host=... boot=... pidns=...
/// pid=... start=...`): read back by [`reap`] in later runs.
fn owner_comment(owner: &Owner) -> String {
    format!(
        "migcheck owner {} pid={} start={}",
        this_machine(&owner.host),
        owner.pid,
        owner.started
    )
}

/// Where a pid means this process: the host name, the kernel's boot id
/// (machines may share a host name, but not a boot) and the pid namespace
/// (containers of one machine share its boot, not their pids).
fn this_machine(host: &str) -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let pidns = pid_namespace().unwrap_or_default();
    let pidns = pidns.trim_start_matches("pid:[").trim_end_matches(']');
    format!("host={host} boot={} pidns={pidns}", boot.trim())
}

/// Whether a database's comment names a process of `machine` (see
/// [`this_machine`]) that is gone; `false` for a comment that is not
/// migcheck's, or names another machine (or one rebooted since: its pids
/// cannot be told from another's) or a live process.
fn owned_by_dead_process(comment: &str, machine: &str) -> bool {
    let Some(process) = comment
        .strip_prefix("migcheck owner ")
        .and_then(|rest| rest.strip_prefix(machine))
        .and_then(|rest| rest.strip_prefix(" pid="))
    else {
        return false;
    };
    let Some((pid, started)) = process.split_once(" start=") else {
        return false;
    };
    match (pid.parse::<u32>(), started.parse::<u64>()) {
        (Ok(pid), Ok(started)) => !Owner::alive(pid, started),
        _ => false,
    }
}

/// Names this process as the owner of `database`, just created on an
/// existing server, so that a later run can drop it if this one is killed.
pub(crate) async fn record_owner(
    admin: &tokio_postgres::Client,
    database: &str,
) -> Result<(), tokio_postgres::Error> {
    let comment = owner_comment(&Owner::current());
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS {}",
            crate::sql::ident(database),
            crate::sql::literal(&comment)
        ))
        .await
}

/// Drops the `migcheck_*` databases whose owner, by their comment, was a
/// process of this machine that is gone (killed before it could clean up).
/// Databases without such a comment, of other hosts, or of live processes
/// are left alone; one that cannot be dropped (another user's) too.
async fn reap(admin: &tokio_postgres::Client) {
    let Ok(rows) = admin
        .query(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database \
              WHERE datname LIKE 'migcheck\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    let machine = this_machine(&Owner::current().host);
    for row in rows {
        let name: String = row.get(0);
        let comment: Option<String> = row.get(1);
        if comment.is_some_and(|comment| owned_by_dead_process(&comment, &machine)) {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    crate::sql::ident(&name)
                ))
                .await;
        }
    }
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
    fn only_databases_of_dead_processes_of_this_host_are_reaped() {
        let me = Owner::current();
        let here = this_machine(&me.host);
        let check = |comment: &str, reaped: bool| {
            assert_eq!(owned_by_dead_process(comment, &here), reaped, "{comment}");
        };
        let owner = |machine: &str, pid: u32, start: u64| {
            format!("migcheck owner {machine} pid={pid} start={start}")
        };
        // No process has a pid this high (the kernel's limit is 2^22).
        let dead = 4_000_000_000;
        check(&owner_comment(&me), false);
        check(&owner(&here, dead, 1), true);
        // A recycled pid: alive, but started at another time.
        check(&owner(&here, me.pid, me.started + 1), true);
        let elsewhere = here.replacen("host=", "host=elsewhere-", 1);
        check(&owner(&elsewhere, dead, 1), false);
        let rebooted = here.replacen("boot=", "boot=0", 1);
        check(&owner(&rebooted, dead, 1), false);
        let container = format!("{here}0");
        check(&owner(&container, dead, 1), false);
        check("the team's scratch database", false);
        check(&format!("migcheck owner {here} pid={dead}"), false);
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
