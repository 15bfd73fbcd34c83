//! migcheck: proves that PostgreSQL migrations are safe to run on the
//! databases that really exist, not only on an empty one.
//!
//! The modules follow the nouns of the product: `postgres` (servers),
//! `sandbox`, `migrations`, `runner`, `schema` (snapshot, diff), `data`,
//! `observe`, `checks`, `finding`, `scenario`, `report`, and `verify`,
//! which ties them together.

pub mod bench;
pub mod capture;
pub mod changes;
pub mod checks;
pub mod data;
pub mod faults;
pub mod finding;
pub mod fuzz;
pub mod guard;
pub mod keep;
pub mod lint;
pub mod migrations;
pub mod observe;
pub mod postgres;
pub mod report;
pub mod rollback;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub mod schema;
pub mod seed;
mod sql;
pub mod suite;
pub mod verify;

/// Why migcheck could not do its job (exit code 2). Findings are not errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Postgres(#[from] postgres::PostgresError),
    #[error(transparent)]
    Scenarios(#[from] scenario::ScenarioError),
    #[error(transparent)]
    Migrations(#[from] migrations::MigrationsError),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error(transparent)]
    Observe(#[from] observe::ObserveError),
    #[error(transparent)]
    Lint(#[from] lint::LintError),
    #[error("scenario {id}")]
    Scenario { id: String, source: Box<Error> },
    #[error("merge: no migration named `{name}`; the set has: {known}")]
    UnknownBranchMigration { name: String, known: String },
    #[error("irreversible/not_atomic: no migration named `{name}`; the set has: {known}")]
    UnknownOptOutMigration { name: String, known: String },
    #[error("--changed-since: {0}")]
    Changes(String),
    #[error("{0}")]
    Suite(String),
    /// `fuzz`: writing what it found, or its self-test's files.
    #[error("{0}")]
    Fuzz(String),
    #[error(transparent)]
    Keep(#[from] keep::KeepError),
    #[error(transparent)]
    Refused(#[from] guard::Refused),
    #[error(transparent)]
    Bench(#[from] bench::BenchError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}
