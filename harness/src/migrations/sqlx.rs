//! sqlx: `<version>_<name>.sql` (simple, one-way) and
//! `<version>_<name>.up.sql` / `<version>_<name>.down.sql` (reversible).
//! The version is an integer (often a timestamp), unique in the set as a
//! number, and orders the set numerically (`9_a.sql` before `10_b.sql`). A file that starts with `-- no-transaction` runs outside
//! a transaction, as sqlx decides it (`sql.starts_with(...)`).
//!
//! ```text
//! migrations/
//!   20240101000000_users.sql
//!   20240102000000_jobs.up.sql
//!   20240102000000_jobs.down.sql
//!   20240103000000_jobs_index.up.sql     (starts with -- no-transaction)
//!   20240103000000_jobs_index.down.sql
//! ```
//!
//! `Migration::transaction` is the up file's marker; a down file's own
//! marker is not kept, so a runner of downs must look at the down's first
//! line itself (`no_transaction`).

use std::path::Path;

use super::{
    Format, Migration, MigrationsError, Script, every, read_text, sql_stem, up_down_pairs,
};

const EXPECTED: &str = "<version>_<name>.sql, or .up.sql and .down.sql, with a 64-bit integer version, like 20240101000000_users.sql";

/// sqlx's marker for a migration that must not run in a transaction.
pub(super) const NO_TRANSACTION: &str = "-- no-transaction";

/// Whether sqlx runs this file outside a transaction.
pub(super) fn no_transaction(text: &str) -> bool {
    text.starts_with(NO_TRANSACTION)
}

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, MigrationsError> {
    let pairs = up_down_pairs(
        dir,
        Format::Sqlx,
        EXPECTED,
        |name| Some(sql_stem(name)),
        // sqlx sorts by the version parsed as an i64 (`sort_by_key(|m|
        // m.version)`), so 9 comes before 10 and 09 is 9.
        |version| version.parse::<i64>().ok(),
    )?;
    every(pairs.into_iter().map(|pair| {
        let text = read_text(&pair.up.path)?;
        Ok(Migration {
            transaction: !no_transaction(&text),
            up: Script::parse(&pair.up.path, text)?,
            down: pair.down.map(|d| Script::read(&d.path)).transpose()?,
            version: pair.version,
            name: pair.up.name,
            path: pair.up.path,
        })
    }))
}
