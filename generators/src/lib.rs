//! generators: what migcheck's fuzzer feeds a migration set, as proptest
//! strategies. Pure: no IO, no server; migcheck turns a live schema into
//! a [`model::Schema`] and runs what these generate.
//!
//! - [`legacy`]: legacy states derived from a set's own history ("applied
//!   up to version k", then hand-made changes, a crash mid-migration, rows).
//! - [`rows`]: rows for the tables of a schema, respecting types, keys and
//!   foreign keys.
//! - [`history`]: whole random schema histories rendered as migration sets
//!   in a correct idempotent style, and variants with one injected defect.
//! - [`unstructured`]: the same values from a coverage-guided fuzzer's
//!   bytes (`arbitrary`).

pub mod history;
pub mod legacy;
pub mod model;
pub mod rows;
mod sql;
mod types;
pub mod unstructured;
