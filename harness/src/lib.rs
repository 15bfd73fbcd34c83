//! migcheck: proves that PostgreSQL migrations are safe to run on the
//! databases that really exist, not only on an empty one.
//!
//! The modules follow the nouns of the product; ARCHITECTURE.md walks
//! through them. The public ones are the API: the command line (`cli`),
//! regression suites (`suite`), the pipeline and its drivers (`pipeline`,
//! `verify`, `fuzz`, `bench`), what they take and give (`scenario`,
//! `report`, `finding`, `error`), and the parts the benches and
//! integration tests drive on their own (`postgres`, `sandbox`, `runner`,
//! `migrations`, `schema`, `lint`). The rest is internal.

pub mod bench;
mod capture;
mod checks;
pub mod cli;
mod data;
pub mod error;
pub mod finding;
pub mod fuzz;
mod git;
mod guard;
pub mod input;
mod keep;
mod lint;
pub mod migrations;
mod observe;
pub mod pipeline;
pub mod postgres;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub mod schema;
mod sql;
pub mod suite;
mod suppress;
mod touched;
pub mod verify;
pub mod version_table;

pub use error::Error;
pub use lint::{LintError, lint};

/// The async runtime migcheck's work runs on: one thread, the work being
/// mostly waiting on servers. Every runtime is built here.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
