//! Cluster-wide objects: roles, replication slots, tablespaces and
//! subscriptions. They live outside every database, so neither dropping a
//! sandbox's database nor rolling back its transaction takes them along (a
//! replication slot even outlives a rollback), and a `CREATE ROLE` in one
//! case would make the next fail with "role already exists".
//!
//! A [`Tracker`] reads their names when a set of sandboxes starts its first
//! case, and after each case removes those that appeared meanwhile, except
//! the ones a kept state (a prefix of migrations cloned by later cases)
//! created while it was built: they belong to that state until a case
//! needs a cluster without them, which then forgets the state.
//!
//! It never removes what existed before, nor the roles migcheck itself
//! creates ([`claim_role`]). Publications are not here: they belong to one
//! database and go with it.
//!
//! On an existing server, a signal removes what the run made too (a
//! throwaway server takes it along).
//!
//! Objects are known by name only: sandboxes that run at the same time on
//! one server (suite trials, fuzz workers, other runs on a shared server)
//! cannot tell whose case made one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use tokio_postgres::{Client, Config};

use super::Server;
use super::cleanup::{Remote, RemoteGuard};
use super::dsn::describe;
use super::error::PostgresError;

/// Kinds of cluster-wide objects, in the order they are removed: a
/// subscription holds a slot and keeps its database from being dropped; a
/// role may own a tablespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Subscription,
    Slot,
    Tablespace,
    Role,
}

/// One object: its kind, name and, for a subscription, its database.
type Object = (Kind, String, String);

/// A set of cluster-wide objects, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Globals(BTreeSet<Object>);

impl Globals {
    /// What the server holds now, but the roles migcheck claimed. One round
    /// trip; needs no privilege.
    pub async fn read(admin: &Client) -> Result<Globals, tokio_postgres::Error> {
        let rows = admin
            .query(
                "SELECT 'role', rolname::text, '' FROM pg_roles \
                 UNION ALL SELECT 'slot', slot_name::text, '' FROM pg_replication_slots \
                 UNION ALL SELECT 'tablespace', spcname::text, '' FROM pg_tablespace \
                 UNION ALL SELECT 'subscription', s.subname::text, d.datname::text \
                   FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid",
                &[],
            )
            .await?;
        let claimed = claimed();
        Ok(Globals(
            rows.iter()
                .filter_map(|row| {
                    let kind = match row.get::<_, &str>(0) {
                        "role" => Kind::Role,
                        "slot" => Kind::Slot,
                        "tablespace" => Kind::Tablespace,
                        _ => Kind::Subscription,
                    };
                    let name: String = row.get(1);
                    let claimed = kind == Kind::Role && claimed.contains(&name);
                    (!claimed).then(|| (kind, name, row.get(2)))
                })
                .collect(),
        ))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn minus(&self, other: &Globals) -> Globals {
        Globals(self.0.difference(&other.0).cloned().collect())
    }

    fn union(&self, other: &Globals) -> Globals {
        Globals(self.0.union(&other.0).cloned().collect())
    }

    fn meets(&self, other: &Globals) -> bool {
        !self.0.is_disjoint(&other.0)
    }

    fn names(&self, kind: Kind) -> impl Iterator<Item = &(Kind, String, String)> {
        self.0.iter().filter(move |(k, _, _)| *k == kind)
    }

    /// For messages: `role "r"`, `replication slot "s"`, ...
    fn describe(object: &Object) -> String {
        let (kind, name, database) = object;
        match kind {
            Kind::Role => format!("role {name:?}"),
            Kind::Slot => format!("replication slot {name:?}"),
            Kind::Tablespace => format!("tablespace {name:?}"),
            Kind::Subscription => format!("subscription {name:?} in database {database:?}"),
        }
    }
}

/// Roles migcheck creates for its own use: never removed as a case's.
static CLAIMED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Marks `role` as migcheck's own before creating it, so that no tracker
/// takes it for one a migration created.
pub(crate) fn claim_role(role: &str) {
    let mut claimed = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
    claimed.insert(role.to_owned());
}

fn claimed() -> BTreeSet<String> {
    CLAIMED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// What one set of sandboxes found before its first case, and what the
/// states it keeps created while they were built.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    before: Option<Globals>,
    /// On an existing server: removes what did not exist before on Ctrl-C.
    on_signal: Option<RemoteGuard>,
    /// By the kept state's key: what building it and the states it was
    /// cloned from created.
    kept: BTreeMap<String, Globals>,
}

impl Tracker {
    /// A case starts from the kept state `from` (`None`: an empty
    /// database). Records what exists on the first call. Returns the keys
    /// of the kept states to forget: they made objects this case must not
    /// see; remove them with [`Tracker::forget`] after dropping their
    /// databases.
    pub async fn case_starts(
        &mut self,
        server: &Server,
        admin: &Client,
        from: Option<&str>,
    ) -> Result<Vec<String>, PostgresError> {
        if self.before.is_none() {
            let before = Globals::read(admin).await.map_err(|e| read_failed(&e))?;
            if server.shared() {
                self.on_signal = Some(on_signal(server, before.clone()));
            }
            self.before = Some(before);
            return Ok(Vec::new());
        }
        let allowed = from
            .and_then(|key| self.kept.get(key))
            .cloned()
            .unwrap_or_default();
        let stale = self.kept_union().minus(&allowed);
        if stale.is_empty() {
            return Ok(Vec::new());
        }
        remove(&admin_config(server), admin, &stale).await?;
        Ok(self
            .kept
            .iter()
            .filter(|(_, made)| made.meets(&stale))
            .map(|(key, _)| key.clone())
            .collect())
    }

    /// The kept states whose databases are gone.
    pub fn forget(&mut self, keys: &[String]) {
        for key in keys {
            self.kept.remove(key);
        }
    }

    /// The state `key` was just built (from the kept state `parent`, or
    /// from an empty database) and is kept: what appeared belongs to it.
    pub async fn built(
        &mut self,
        admin: &Client,
        key: &str,
        parent: Option<&str>,
    ) -> Result<(), PostgresError> {
        let Some(before) = &self.before else {
            return Ok(());
        };
        let now = Globals::read(admin).await.map_err(|e| read_failed(&e))?;
        let made = now.minus(before).minus(&self.kept_union());
        let inherited = parent
            .and_then(|parent| self.kept.get(parent))
            .cloned()
            .unwrap_or_default();
        let all = inherited.union(&made);
        if !all.is_empty() {
            self.kept.insert(key.to_owned(), all);
        }
        Ok(())
    }

    /// A case ended: removes what it created (what neither existed before
    /// nor belongs to a kept state). Call it before dropping the case's
    /// database: a subscription keeps its database from being dropped.
    pub async fn case_ends(
        &mut self,
        server: &Server,
        admin: &Client,
    ) -> Result<(), PostgresError> {
        let Some(before) = &self.before else {
            return Ok(());
        };
        let now = Globals::read(admin).await.map_err(|e| read_failed(&e))?;
        let made = now.minus(before).minus(&self.kept_union());
        remove(&admin_config(server), admin, &made).await
    }

    /// The sandboxes are done: removes everything that did not exist
    /// before, kept states' objects too. Call it before dropping their
    /// databases.
    pub async fn finish(&mut self, server: &Server, admin: &Client) -> Result<(), PostgresError> {
        let Some(before) = self.before.take() else {
            return Ok(());
        };
        self.kept.clear();
        let now = Globals::read(admin).await.map_err(|e| read_failed(&e))?;
        let removed = remove(&admin_config(server), admin, &now.minus(&before)).await;
        self.on_signal.take();
        removed
    }

    fn kept_union(&self) -> Globals {
        self.kept
            .values()
            .fold(Globals::default(), |all, made| all.union(made))
    }
}

fn admin_config(server: &Server) -> Config {
    server.config(&server.admin_database())
}

/// What a signal does for a tracker on an existing server: removes what
/// did not exist `before`.
fn on_signal(server: &Server, before: Globals) -> RemoteGuard {
    let config = admin_config(server);
    RemoteGuard::register(Remote::new(move || async move {
        let Ok(admin) = connect(&config, None).await else {
            return;
        };
        if let Ok(now) = Globals::read(&admin).await {
            let _ = remove(&config, &admin, &now.minus(&before)).await;
        }
    }))
}

/// A connection to `database` (default: `config`'s), driven on a task.
async fn connect(config: &Config, database: Option<&str>) -> Result<Client, String> {
    let mut config = config.clone();
    if let Some(database) = database {
        config.dbname(database);
    }
    let (client, _task) = super::connect_on_task(&config)
        .await
        .map_err(|e| describe(&e))?;
    Ok(client)
}

fn read_failed(error: &tokio_postgres::Error) -> PostgresError {
    PostgresError::Globals {
        left: vec![format!(
            "cannot read the cluster's roles and slots: {}",
            describe(error)
        )],
    }
}

/// Removes `objects`: subscriptions (disabled and detached from their slot
/// first), replication slots, what the roles own in each database that
/// holds something of theirs (`DROP OWNED`), tablespaces, then the roles.
/// Goes on past a failure and names every object left.
async fn remove(config: &Config, admin: &Client, objects: &Globals) -> Result<(), PostgresError> {
    if objects.is_empty() {
        return Ok(());
    }
    let mut left = Vec::new();
    let failed = |object: &Object, error: &tokio_postgres::Error| {
        format!("{}: {}", Globals::describe(object), describe(error))
    };
    for object in objects.names(Kind::Subscription) {
        let (_, name, database) = object;
        let name = crate::sql::ident(name);
        let result = async {
            let client = connect(config, Some(database)).await?;
            for sql in [
                format!("ALTER SUBSCRIPTION {name} DISABLE"),
                format!("ALTER SUBSCRIPTION {name} SET (slot_name = NONE)"),
                format!("DROP SUBSCRIPTION {name}"),
            ] {
                client.batch_execute(&sql).await.map_err(|e| describe(&e))?;
            }
            Ok::<_, String>(())
        }
        .await;
        if let Err(message) = result {
            left.push(format!("{}: {message}", Globals::describe(object)));
        }
    }
    for object in objects.names(Kind::Slot) {
        let result = admin
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                  WHERE slot_name = {name} AND active_pid IS NOT NULL; \
                 SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                  WHERE slot_name = {name}",
                name = crate::sql::literal(&object.1)
            ))
            .await;
        if let Err(error) = result {
            left.push(failed(object, &error));
        }
    }
    let roles: Vec<&Object> = objects.names(Kind::Role).collect();
    if !roles.is_empty() {
        let list = roles
            .iter()
            .map(|(_, name, _)| crate::sql::ident(name))
            .collect::<Vec<_>>()
            .join(", ");
        let names: Vec<&str> = roles.iter().map(|(_, name, _)| name.as_str()).collect();
        // The databases holding something of theirs, and the one connected
        // to, where DROP OWNED also revokes grants on shared objects.
        let databases = admin
            .query(
                "SELECT DISTINCT d.datname::text FROM pg_shdepend s \
                   JOIN pg_database d ON d.oid = s.dbid \
                   JOIN pg_roles r ON r.oid = s.refobjid \
                  WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = ANY ($1) \
                    AND d.datallowconn AND d.datname <> current_database()",
                &[&names],
            )
            .await
            .map(|rows| rows.iter().map(|row| row.get::<_, String>(0)).collect())
            .unwrap_or_else(|_| Vec::new());
        let drop_owned = format!("DROP OWNED BY {list}");
        if let Err(error) = admin.batch_execute(&drop_owned).await {
            left.push(format!("DROP OWNED BY {list}: {}", describe(&error)));
        }
        for database in databases {
            let result = async {
                let client = connect(config, Some(&database)).await?;
                client
                    .batch_execute(&drop_owned)
                    .await
                    .map_err(|e| describe(&e))
            }
            .await;
            if let Err(message) = result {
                left.push(format!(
                    "DROP OWNED BY {list} in database {database:?}: {message}"
                ));
            }
        }
    }
    for object in objects.names(Kind::Tablespace) {
        let sql = format!("DROP TABLESPACE {}", crate::sql::ident(&object.1));
        if let Err(error) = admin.batch_execute(&sql).await {
            left.push(failed(object, &error));
        }
    }
    for object in roles {
        let sql = format!("DROP ROLE IF EXISTS {}", crate::sql::ident(&object.1));
        if let Err(error) = admin.batch_execute(&sql).await {
            left.push(failed(object, &error));
        }
    }
    match left.is_empty() {
        true => Ok(()),
        false => Err(PostgresError::Globals { left }),
    }
}
