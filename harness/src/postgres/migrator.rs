//! The role migrations run as on a server migcheck starts: a non-superuser
//! that owns the sandbox databases, as the application's role does on
//! managed Postgres (RDS and Cloud SQL give no superuser).
//!
//! This, not the statement guard, is what keeps a migration inside the
//! server: Postgres itself refuses a non-superuser `COPY ... PROGRAM`,
//! untrusted languages and extensions, server files, other sessions and
//! roles, however the statement is spelled (a DO block, a trigger, a
//! `LANGUAGE internal` alias). Trusted extensions (pgcrypto, citext,
//! hstore, ltree, ...) still install for a database owner (PostgreSQL 13+).
//!
//! On an existing server (`--pg dsn:`) no role is created: migrations run
//! as the URL's user, whose rights the server's administrator chose.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::{Client, Config};

/// The role's name, the same on every server migcheck starts.
pub const MIGRATOR: &str = "migcheck_migrator";

/// How to log in as [`MIGRATOR`] on one server.
#[derive(Debug)]
pub(crate) struct Migrator {
    /// Set when the server is reached over TCP (a container): a random
    /// one per server. A local cluster is reached only on its private
    /// Unix socket, where the server trusts whoever can open it.
    password: Option<String>,
    created: AtomicBool,
}

impl Migrator {
    pub(crate) fn new(password: Option<String>) -> Migrator {
        // migcheck's, not a case's: the per-case cleanup of cluster-wide
        // objects must never drop it.
        super::globals::claim_role(MIGRATOR);
        Migrator {
            password,
            created: AtomicBool::new(false),
        }
    }

    /// Creates the role, once per server, through a superuser's
    /// connection (migcheck creates its databases on one first, so no
    /// server start waits for it). It may log in and nothing more: no
    /// superuser, no CREATEDB (migcheck creates the databases and gives
    /// them to it), no CREATEROLE (before PostgreSQL 16 that would let it
    /// grant itself `pg_execute_server_program`), no replication, and row
    /// security applies to it. Concurrent sandboxes (fuzz's workers) may
    /// both try: the second finds it made.
    pub(crate) async fn ensure(&self, admin: &Client) -> Result<(), tokio_postgres::Error> {
        if self.created.load(Ordering::Acquire) {
            return Ok(());
        }
        let password = self
            .password
            .as_deref()
            .map(|password| format!(" PASSWORD {}", crate::sql::literal(password)))
            .unwrap_or_default();
        admin
            .batch_execute(&format!(
                "DO $$ BEGIN
                   CREATE ROLE {MIGRATOR} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
                     NOREPLICATION NOBYPASSRLS{password};
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                 END $$"
            ))
            .await?;
        self.created.store(true, Ordering::Release);
        Ok(())
    }

    /// `config` (a superuser's) changed to log in as the role.
    pub(crate) fn config(&self, mut config: Config) -> Config {
        config.user(MIGRATOR);
        if let Some(password) = &self.password {
            config.password(password);
        }
        config
    }
}
