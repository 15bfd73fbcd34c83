//! Why migcheck could not do its job (exit code 2), and the one way such an
//! error is printed. Findings are not errors.
//!
//! Every error type of the crate says its own part and leaves its cause to
//! `source()` (or says the cause in its message and has no source, never
//! both), so [`report`] can print the chain once, whoever prints it: the
//! command line and the test suite give the same text.

/// Why migcheck could not do its job (exit code 2). Findings are not errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Postgres(#[from] crate::postgres::PostgresError),
    #[error(transparent)]
    Scenarios(#[from] crate::scenario::ScenarioError),
    #[error(transparent)]
    Migrations(#[from] crate::migrations::MigrationsError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Observe(#[from] crate::observe::ObserveError),
    #[error(transparent)]
    Lint(#[from] crate::lint::LintError),
    #[error("scenario {id}")]
    Scenario { id: String, source: Box<Error> },
    #[error("merge: no migration named `{name}`; the set has: {known}")]
    UnknownBranchMigration { name: String, known: String },
    #[error("irreversible/not_atomic: no migration named `{name}`; the set has: {known}")]
    UnknownOptOutMigration { name: String, known: String },
    #[error("locks: no migration named `{name}`; the set has: {known}")]
    UnknownLocksMigration { name: String, known: String },
    #[error("--changed-since: {0}")]
    Changes(String),
    #[error("{0}")]
    Suite(String),
    /// `fuzz`: writing what it found, or its self-test's files.
    #[error("{0}")]
    Fuzz(String),
    #[error(transparent)]
    Keep(#[from] crate::keep::KeepError),
    #[error(transparent)]
    Refused(#[from] crate::guard::Refused),
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// An error and its causes, outermost first, joined with ": ".
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
