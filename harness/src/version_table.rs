//! The version table of a tracked runner, under the name and in the shape
//! its tool gives it, so that a set that reads or writes its runner's
//! table (golang-migrate's `schema_migrations`, diesel's
//! `__diesel_schema_migrations`) runs as it does in production. Each
//! shape is copied from the tool's own source:
//!
//! | format | table | kept |
//! |---|---|---|
//! | diesel | `__diesel_schema_migrations` | a row per version, dashes left out |
//! | sqlx | `_sqlx_migrations` | a row per version, with its description and SHA-384 |
//! | golang-migrate | `schema_migrations` | one row: the current version and the dirty flag |
//! | dbmate | `schema_migrations` | a row per version, as written |
//! | Flyway | `flyway_schema_history` | a row per version, ranked |
//! | refinery | `refinery_schema_history` | a row per version, with its name |
//! | plain | `migcheck_migrations` | a row per version, with its name |
//!
//! It only writes SQL text; the runner sends it.

use sha2::Digest;

use crate::migrations::{Format, Migration};
use crate::sql::literal;

/// Whose version table a tracked runner keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionTable {
    /// A plain directory has no tool: migcheck's own table.
    #[default]
    Migcheck,
    Diesel,
    Sqlx,
    GolangMigrate,
    Dbmate,
    Flyway,
    Refinery,
}

/// Every tool's table name: bookkeeping, not the set's data, so seeds
/// and generated rows leave them alone.
pub const NAMES: &[&str] = &[
    "migcheck_migrations",
    "__diesel_schema_migrations",
    "_sqlx_migrations",
    "schema_migrations",
    "flyway_schema_history",
    "refinery_schema_history",
];

impl VersionTable {
    /// The table the runner of `format` keeps.
    pub fn of(format: Format) -> VersionTable {
        match format {
            Format::Auto | Format::Plain => VersionTable::Migcheck,
            Format::Diesel => VersionTable::Diesel,
            Format::Sqlx => VersionTable::Sqlx,
            Format::GolangMigrate => VersionTable::GolangMigrate,
            Format::Dbmate => VersionTable::Dbmate,
            Format::Flyway => VersionTable::Flyway,
            Format::Refinery => VersionTable::Refinery,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VersionTable::Migcheck => NAMES[0],
            VersionTable::Diesel => NAMES[1],
            VersionTable::Sqlx => NAMES[2],
            VersionTable::GolangMigrate | VersionTable::Dbmate => NAMES[3],
            VersionTable::Flyway => NAMES[4],
            VersionTable::Refinery => NAMES[5],
        }
    }

    /// Creates the table if it is missing, as the tool does before it
    /// reads it (a set may have created it already).
    pub(crate) fn create_sql(self) -> String {
        let name = self.name();
        match self {
            VersionTable::Migcheck => format!(
                "CREATE TABLE IF NOT EXISTS {name} (version text PRIMARY KEY, name text NOT NULL)"
            ),
            VersionTable::Diesel => format!(
                "CREATE TABLE IF NOT EXISTS {name} (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            ),
            VersionTable::Sqlx => format!(
                "CREATE TABLE IF NOT EXISTS {name} (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)"
            ),
            VersionTable::GolangMigrate => format!(
                "CREATE TABLE IF NOT EXISTS {name} (version bigint not null primary key, dirty boolean not null)"
            ),
            VersionTable::Dbmate => {
                format!("CREATE TABLE IF NOT EXISTS {name} (version varchar primary key)")
            }
            // Flyway adds the key and the index with statements of their
            // own; inline, they end up the same in the catalog.
            VersionTable::Flyway => format!(
                "CREATE TABLE IF NOT EXISTS {name} (installed_rank INT NOT NULL, version VARCHAR(50), description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INTEGER, installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(), execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL, CONSTRAINT {name}_pk PRIMARY KEY (installed_rank));
                 CREATE INDEX IF NOT EXISTS {name}_s_idx ON {name} (success)"
            ),
            VersionTable::Refinery => format!(
                "CREATE TABLE IF NOT EXISTS {name} (version int4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255))"
            ),
        }
    }

    /// Reads the recorded versions, as text.
    pub(crate) fn recorded_sql(self) -> String {
        let name = self.name();
        match self {
            // One row, the current version (golang-migrate's `LIMIT 1`).
            VersionTable::GolangMigrate => format!("SELECT version::text FROM {name} LIMIT 1"),
            // Flyway's rows of failed migrations and its schema marker
            // (no version) do not count as applied.
            VersionTable::Flyway => {
                format!("SELECT version FROM {name} WHERE success AND version IS NOT NULL")
            }
            _ => format!("SELECT version::text FROM {name}"),
        }
    }

    /// The migrations of `migrations` the table says are not applied, in
    /// order. golang-migrate keeps only the current version: every
    /// version up to it counts as applied.
    pub(crate) fn pending<'m>(
        self,
        migrations: &'m [Migration],
        recorded: &[String],
    ) -> impl Iterator<Item = &'m Migration> {
        let current: Option<u64> = match self {
            VersionTable::GolangMigrate => recorded.first().and_then(|v| v.parse().ok()),
            _ => None,
        };
        migrations.iter().filter(move |m| match self {
            VersionTable::GolangMigrate => {
                current.is_none_or(|current| m.version.parse::<u64>().is_ok_and(|v| v > current))
            }
            _ => !recorded.contains(&self.version(m)),
        })
    }

    /// Records `migration` as applied, as the tool does after running it.
    pub(crate) fn record_sql(self, migration: &Migration) -> String {
        let name = self.name();
        let version = literal(&self.version(migration));
        match self {
            VersionTable::Migcheck => format!(
                "INSERT INTO {name} (version, name) VALUES ({version}, {})",
                literal(&migration.name)
            ),
            VersionTable::Diesel | VersionTable::Dbmate => {
                format!("INSERT INTO {name} (version) VALUES ({version})")
            }
            // sqlx inserts -1 and then updates the time it measured;
            // migcheck measures nothing here.
            VersionTable::Sqlx => format!(
                "INSERT INTO {name} (version, description, success, checksum, execution_time) VALUES ({version}, {}, TRUE, '\\x{}'::bytea, -1)",
                literal(&description(after_version(&migration.name, "_"))),
                hex(&sha2::Sha384::digest(migration.up.sql.as_bytes()))
            ),
            VersionTable::GolangMigrate => {
                format!(
                    "TRUNCATE {name}; INSERT INTO {name} (version, dirty) VALUES ({version}, false)"
                )
            }
            // Flyway's checksum (a CRC32 of the lines) is left NULL, which
            // its shape allows: nothing here validates it.
            VersionTable::Flyway => format!(
                "INSERT INTO {name} (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) SELECT coalesce(max(installed_rank), 0) + 1, {version}, {}, 'SQL', {}, NULL, current_user, 0, TRUE FROM {name}",
                literal(&description(after_version(&migration.name, "__"))),
                literal(&migration.name)
            ),
            // refinery's checksum (a SipHash of name, version and SQL) is
            // left NULL, as its shape allows.
            VersionTable::Refinery => format!(
                "INSERT INTO {name} (version, name, applied_on, checksum) VALUES ({version}, {}, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), NULL)",
                literal(stem(after_version(&migration.name, "__")))
            ),
        }
    }

    /// Makes the table say that `migrations[index]` is not applied (and,
    /// for golang-migrate, whose one row is the current version, that the
    /// one before it is current), so that the next deploy runs it again.
    pub(crate) fn forget_sql(self, migrations: &[Migration], index: usize) -> String {
        let name = self.name();
        match self {
            VersionTable::GolangMigrate => match index.checked_sub(1) {
                Some(before) => self.record_sql(&migrations[before]),
                None => format!("TRUNCATE {name}"),
            },
            _ => format!(
                "DELETE FROM {name} WHERE version = {}",
                literal(&self.version(&migrations[index]))
            ),
        }
    }

    /// The version as the tool records it, as text.
    fn version(self, migration: &Migration) -> String {
        let version = migration.version.as_str();
        let number = |v: &str| v.parse::<i128>().map_or(v.to_string(), |n| n.to_string());
        match self {
            VersionTable::Migcheck | VersionTable::Dbmate => version.to_string(),
            VersionTable::Diesel => crate::migrations::diesel_recorded_version(version),
            VersionTable::Sqlx | VersionTable::GolangMigrate | VersionTable::Refinery => {
                number(version)
            }
            // Flyway records its display text, underscores as dots.
            VersionTable::Flyway => version.replace('_', "."),
        }
    }
}

/// The part of a file name after its version and `separator`.
fn after_version<'n>(name: &'n str, separator: &str) -> &'n str {
    name.split_once(separator).map_or(name, |(_, rest)| rest)
}

/// A file name without `.up.sql` or `.sql`.
fn stem(name: &str) -> &str {
    name.strip_suffix(".up.sql")
        .or_else(|| name.strip_suffix(".sql"))
        .unwrap_or(name)
}

/// sqlx's and Flyway's description: the name, underscores as spaces.
fn description(name: &str) -> String {
    stem(name).replace('_', " ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::Script;
    use std::path::Path;

    fn migration(version: &str, name: &str) -> Migration {
        let path = Path::new(name);
        Migration {
            version: version.to_string(),
            name: name.to_string(),
            path: path.to_path_buf(),
            up: Script::parse(path, "SELECT 1;".to_string()).expect("parses"),
            down: None,
            transaction: true,
        }
    }

    fn check(table: VersionTable, version: &str, name: &str, expected: &str) {
        let sql = table.record_sql(&migration(version, name));
        assert!(
            sql.contains(expected),
            "{table:?} records {name} as:\n{sql}\nexpected it to contain {expected}"
        );
    }

    #[test]
    fn versions_and_names_are_recorded_as_each_tool_records_them() {
        check(
            VersionTable::Diesel,
            "2017-01-01-000000",
            "2017-01-01-000000_x/up.sql",
            "VALUES ('20170101000000')",
        );
        check(
            VersionTable::Sqlx,
            "0009",
            "0009_create_users.up.sql",
            "VALUES ('9', 'create users', TRUE, '\\x",
        );
        check(
            VersionTable::GolangMigrate,
            "0030",
            "0030_2.0.0_schema.up.sql",
            "VALUES ('30', false)",
        );
        check(
            VersionTable::Dbmate,
            "0001",
            "0001_users.sql",
            "VALUES ('0001')",
        );
        check(
            VersionTable::Flyway,
            "1_1",
            "V1_1__add_jobs.sql",
            "'1.1', 'add jobs', 'SQL', 'V1_1__add_jobs.sql'",
        );
        check(
            VersionTable::Refinery,
            "10",
            "V10__settings.sql",
            "VALUES ('10', 'settings', to_char(",
        );
    }

    #[test]
    fn golang_migrate_counts_every_version_up_to_the_current_one() {
        let set = [
            migration("9", "9_a.up.sql"),
            migration("10", "10_b.up.sql"),
            migration("11", "11_c.up.sql"),
        ];
        let pending = |table: VersionTable, recorded: &[&str]| {
            let recorded: Vec<String> = recorded.iter().map(|s| s.to_string()).collect();
            table
                .pending(&set, &recorded)
                .map(|m| m.version.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(pending(VersionTable::GolangMigrate, &[]), "9,10,11");
        assert_eq!(pending(VersionTable::GolangMigrate, &["10"]), "11");
        assert_eq!(pending(VersionTable::Dbmate, &["10"]), "9,11");
        assert_eq!(
            VersionTable::GolangMigrate.forget_sql(&set, 1),
            VersionTable::GolangMigrate.record_sql(&set[0])
        );
    }
}
