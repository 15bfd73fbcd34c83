//! golang-migrate: `<n>_<name>.up.sql` and `<n>_<name>.down.sql`, `n` an
//! unsigned integer that orders the set numerically (`9_a` before `10_b`)
//! and is unique in it as a number. An up may come alone;
//! a down needs its up.
//!
//! ```text
//! migrations/
//!   1_users.up.sql
//!   1_users.down.sql
//!   2_jobs.up.sql
//! ```
//!
//! Files carry no transaction marker: golang-migrate's postgres driver
//! sends a file as one query, which Postgres runs as one implicit
//! transaction when it holds several statements, and outside any
//! transaction block when it holds one. So a file is transactional unless
//! it is a single statement, which is how `CREATE INDEX CONCURRENTLY`
//! works there: alone in its file.
//! The `x-multi-statement` option of the database URL, which splits files
//! and runs the pieces one by one, is not visible in the files.

use std::path::Path;

use super::{Format, Migration, MigrationsError, Script, every, up_down_pairs};

const EXPECTED: &str =
    "<n>_<name>.up.sql or <n>_<name>.down.sql with an integer n, like 1_create_users.up.sql";

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, MigrationsError> {
    let pairs = up_down_pairs(
        dir,
        Format::GolangMigrate,
        EXPECTED,
        |_| None,
        // golang-migrate parses the version as a uint and sorts the
        // numbers, so 9 comes before 10 and 09 is 9.
        |version| version.parse::<u64>().ok(),
    )?;
    every(pairs.into_iter().map(|pair| {
        let up = Script::read(&pair.up.path)?;
        Ok(Migration {
            transaction: up.statements.len() > 1,
            up,
            down: pair.down.map(|d| Script::read(&d.path)).transpose()?,
            version: pair.version,
            name: pair.up.name,
            path: pair.up.path,
        })
    }))
}
