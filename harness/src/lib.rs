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
pub mod cli;
pub mod data;
pub mod error;
pub mod finding;
pub mod fuzz;
pub mod guard;
pub mod keep;
pub mod lint;
pub mod migrations;
pub mod observe;
pub mod pipeline;
pub mod postgres;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub mod schema;
mod sql;
pub mod suite;
pub mod verify;

pub use error::Error;

/// The async runtime migcheck's work runs on: one thread, the work being
/// mostly waiting on servers. Every runtime is built here.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
