//! The `locks` check: what each migration under test did to tables that
//! existed before it, as `observe::locks` saw it, statement by statement.
//! Errors are what a table that holds rows would suffer (a rewrite, an
//! index or a validation built under a lock that blocks writes, ACCESS
//! EXCLUSIVE held across row work); warnings are what depends on the
//! traffic (no `lock_timeout` of its own, a foreign key without an index).
//! Each message names the lock, what it blocks, and the safe pattern.

use crate::bench::scaling;
use crate::finding::{Finding, Kind, Severity};
use crate::observe::Observation;
use crate::observe::locks::{Held, MigrationLocks, Mode, NewIndex, StatementLocks, Validation};

/// `rows`: `--project-rows`, the table size errors estimate their lock at.
pub(super) fn check(observation: &Observation, rows: Option<u64>) -> Vec<Finding> {
    let Some(locks) = &observation.locks else {
        return Vec::new();
    };
    let mut findings: Vec<Finding> = Vec::new();
    // The upgrade path first: a legacy state adds only what it shows anew.
    let mut seen: Vec<(Kind, String, usize, String)> = Vec::new();
    for observed in &locks.migrations {
        for (kind, statement, subject, mut finding) in migration(observed) {
            let key = (kind, observed.migration.clone(), statement, subject);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if let (Some(rows), Severity::Error) = (rows, finding.severity) {
                finding
                    .message
                    .push_str(&projection(observed, statement, rows));
            }
            if let Some(state) = &observed.legacy {
                finding
                    .message
                    .push_str(&format!(" (seen from legacy state `{state}`)"));
                finding.legacy_state = Some(state.clone());
            }
            findings.push(finding);
        }
    }
    findings
}

/// One observed migration's findings, each with its statement and the
/// relation it is about (to drop a legacy state's repeats).
fn migration(observed: &MigrationLocks) -> Vec<(Kind, usize, String, Finding)> {
    let mut found = Vec::new();
    let at = |kind: Kind, s: &StatementLocks, message: String| Finding {
        migration: Some(observed.migration.clone()),
        statement: Some(s.statement),
        line: Some(s.line),
        column: Some(s.column),
        ..Finding::new(kind, message)
    };
    let line_of = |n: usize| {
        observed
            .statements
            .iter()
            .find(|s| s.statement == n)
            .map_or(0, |s| s.line)
    };
    let mut timeout_warned = false;
    let mut long_held: Vec<String> = Vec::new();
    for s in &observed.statements {
        let head = head(&s.sql);
        // The table of each finding of this statement (in the order of
        // `found`): a lock held from earlier is said there, not in a
        // second finding.
        let mut judged: Vec<&str> = Vec::new();
        let first = found.len();
        for table in s.rewritten.iter().filter(|_| !s.truncate) {
            judged.push(table);
            let mode = mode_on(s, table);
            let message = format!(
                "`{head}` rewrites {table} (its storage is replaced) under {}, which blocks {} on {table} until the transaction ends; {}",
                mode.as_sql(),
                mode.blocks(),
                rewrite_fix(&s.sql)
            );
            found.push((
                Kind::TableRewrite,
                s.statement,
                table.clone(),
                at(Kind::TableRewrite, s, message),
            ));
        }
        for index in &s.new_indexes {
            let mode = mode_on(s, &index.table);
            if let Some(finding) = new_index(index, mode, &head) {
                judged.push(&index.table);
                let (kind, message) = finding;
                found.push((kind, s.statement, index.index.clone(), at(kind, s, message)));
            }
        }
        for (index, table) in &s.rebuilt {
            let mode = mode_on(s, table);
            if mode.blocks_writes() {
                judged.push(table);
                let message = format!(
                    "`{head}` rebuilds index {index} under {} on {table}, which blocks {} on {table} while it builds; use REINDEX INDEX CONCURRENTLY {index} outside a transaction",
                    mode.as_sql(),
                    mode.blocks()
                );
                found.push((
                    Kind::BlockingIndexBuild,
                    s.statement,
                    index.clone(),
                    at(Kind::BlockingIndexBuild, s, message),
                ));
            }
        }
        for (table, what) in &s.validated {
            let held = s.held.iter().find(|h| &h.relation == table);
            let Some(held) = held.filter(|h| h.mode.blocks_writes()) else {
                continue;
            };
            judged.push(table);
            let message = validation(&head, table, what, held);
            found.push((
                Kind::BlockingValidation,
                s.statement,
                table.clone(),
                at(Kind::BlockingValidation, s, message),
            ));
        }
        // One table per finding, pushed together.
        for ((_, _, _, finding), table) in found[first..].iter_mut().zip(&judged) {
            let held = s.held.iter().find(|h| h.relation == *table);
            if let Some(held) = held.filter(|h| h.since < s.statement) {
                finding.message.push_str(&format!(
                    "; the {} on {} was taken at line {} and is still held: commit before this statement",
                    held.mode.as_sql(),
                    held.relation,
                    line_of(held.since)
                ));
            }
        }
        // ACCESS EXCLUSIVE from an earlier statement, while this one works
        // on rows: every query on the table waits for all of it.
        let works = s
            .rows
            .first()
            .or(s.rewritten.first())
            .or(s.validated.first().map(|(t, _)| t));
        for held in s
            .held
            .iter()
            .filter(|h| h.mode == Mode::AccessExclusive && h.since < s.statement)
        {
            let Some(worked) = works else { break };
            if long_held.contains(&held.relation) || judged.contains(&held.relation.as_str()) {
                continue;
            }
            long_held.push(held.relation.clone());
            let earlier = observed
                .statements
                .iter()
                .find(|e| e.statement == held.since);
            let message = format!(
                "{table} stays under ACCESS EXCLUSIVE, taken at line {} (`{}`), while `{head}` reads or writes rows of {worked}; reads and writes on {table} wait until the transaction commits; commit the schema change first (a migration of its own), then change the rows in batches",
                line_of(held.since),
                earlier.map(|e| self::head(&e.sql)).unwrap_or_default(),
                table = held.relation,
            );
            found.push((
                Kind::LongExclusiveLock,
                s.statement,
                held.relation.clone(),
                at(Kind::LongExclusiveLock, s, message),
            ));
        }
        if !timeout_warned && !s.own_lock_timeout {
            let taken = s
                .held
                .iter()
                .find(|h| h.since == s.statement && h.mode.blocks_writes());
            if let Some(held) = taken {
                timeout_warned = true;
                let message = format!(
                    "`{head}` takes {} on {table}, which blocks {} on {table}, without a lock_timeout of its own: while a long query holds {table}, the statement waits, and every query on {table} queues behind it; start the migration with SET lock_timeout = '5s' (SET LOCAL inside its transaction) and retry when it times out",
                    held.mode.as_sql(),
                    held.mode.blocks(),
                    table = held.relation,
                );
                found.push((
                    Kind::MissingLockTimeout,
                    s.statement,
                    held.relation.clone(),
                    warning(at(Kind::MissingLockTimeout, s, message)),
                ));
            }
        }
    }
    for fk in &observed.unindexed {
        let message = format!(
            "foreign key {} on {} ({}) has no index that leads with its columns: every DELETE or key UPDATE on the referenced table scans {} while holding its lock; add one with CREATE INDEX CONCURRENTLY ON {} ({})",
            fk.name, fk.table, fk.columns, fk.table, fk.table, fk.columns
        );
        let finding = Finding {
            migration: Some(observed.migration.clone()),
            statement: Some(fk.statement),
            line: Some(fk.line),
            ..Finding::new(Kind::UnindexedForeignKey, message)
        };
        found.push((
            Kind::UnindexedForeignKey,
            fk.statement,
            fk.name.clone(),
            warning(finding),
        ));
    }
    found
}

/// "; at N rows: about ..." from the statement's measured times.
fn projection(observed: &MigrationLocks, statement: usize, rows: u64) -> String {
    let Some(measured) = observed.measured.iter().find(|m| m.statement == statement) else {
        return format!("; at {rows} rows: not measured (see the notes)");
    };
    let points: Vec<String> = measured
        .points
        .iter()
        .map(|(n, ms)| format!("{ms:.1} ms at {n} rows"))
        .collect();
    let growth = scaling::growth(&measured.points);
    match scaling::project(&measured.points, rows) {
        Some(ms) => format!(
            "; at {rows} rows the statement, and so its lock, would last about {} (bench: {}, growth {})",
            human_ms(ms),
            points.join(", "),
            growth.as_str()
        ),
        None => format!(
            "; at {rows} rows: no estimate, the growth could not be told ({})",
            points.join(", ")
        ),
    }
}

fn human_ms(ms: f64) -> String {
    match ms {
        ms if ms >= 60_000.0 => format!("{:.1} min", ms / 60_000.0),
        ms if ms >= 1_000.0 => format!("{:.1} s", ms / 1_000.0),
        ms => format!("{ms:.0} ms"),
    }
}

fn warning(finding: Finding) -> Finding {
    Finding {
        severity: Severity::Warning,
        ..finding
    }
}

/// The strongest lock the statement's transaction holds on `table`.
fn mode_on(s: &StatementLocks, table: &str) -> Mode {
    s.held
        .iter()
        .find(|h| h.relation == table)
        .map_or(Mode::AccessShare, |h| h.mode)
}

/// The first line of a statement, shortened, for messages.
fn head(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(72) {
        Some((at, _)) => format!("{} ...", &line[..at]),
        None if sql.trim().lines().count() > 1 => format!("{line} ..."),
        None => line.to_string(),
    }
}

/// What to do instead of a statement that rewrites a table.
fn rewrite_fix(sql: &str) -> &'static str {
    let upper = sql.to_ascii_uppercase();
    if upper.contains("VACUUM") || upper.contains("CLUSTER") {
        "pg_repack or pg_squeeze reorganize a table holding the lock only briefly"
    } else if upper.contains(" TYPE ") {
        "add a column of the new type, backfill it in batches and switch to it, or use a change Postgres makes without a rewrite (varchar(n) to text or a larger n)"
    } else if upper.contains("SERIAL") || upper.contains("GENERATED") {
        "add the column plain, backfill it in batches, then set its default to the sequence (or compute it in the application)"
    } else if upper.contains("DEFAULT") {
        "add the column with no default or a constant one (no rewrite since Postgres 11), then backfill it in batches"
    } else {
        "split the change so that no statement rewrites a table that holds rows"
    }
}

/// An index that appeared on an existing table: built without
/// CONCURRENTLY, or for a constraint.
fn new_index(index: &NewIndex, mode: Mode, head: &str) -> Option<(Kind, String)> {
    let table = &index.table;
    match &index.constraint {
        Some((name, kind)) => {
            let fix = match kind {
                'x' => "an EXCLUDE constraint cannot use an existing index: add it while the table is new, or in a maintenance window".to_string(),
                'p' => format!(
                    "build the index first with CREATE UNIQUE INDEX CONCURRENTLY, then ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY USING INDEX <it> (with its columns already NOT NULL: see blocking-validation)"
                ),
                _ => format!(
                    "build the index first with CREATE UNIQUE INDEX CONCURRENTLY, then ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX <it>, which takes its lock only briefly"
                ),
            };
            let what = match kind {
                'p' => "PRIMARY KEY",
                'x' => "EXCLUDE constraint",
                _ => "UNIQUE constraint",
            };
            Some((
                Kind::BlockingConstraintIndex,
                format!(
                    "`{head}` builds the index of {what} {name} under {} on {table}, which blocks {} on {table} while it builds; {fix}",
                    mode.as_sql(),
                    mode.blocks()
                ),
            ))
        }
        None if mode.blocks_writes() => Some((
            Kind::BlockingIndexBuild,
            format!(
                "`{head}` builds index {} under {} on {table}, which blocks {} on {table} while it builds; use CREATE INDEX CONCURRENTLY, outside a transaction (a migration the runner does not wrap in one)",
                index.index,
                mode.as_sql(),
                mode.blocks()
            ),
        )),
        None => None,
    }
}

fn validation(head: &str, table: &str, what: &Validation, held: &Held) -> String {
    let (checked, fix) = match what {
        Validation::Check(name) | Validation::ForeignKey(name) => (
            format!(
                "{} {name}",
                match what {
                    Validation::ForeignKey(_) => "foreign key",
                    _ => "check constraint",
                }
            ),
            format!(
                "add it NOT VALID, then ALTER TABLE {table} VALIDATE CONSTRAINT {name} in a later transaction (it takes SHARE UPDATE EXCLUSIVE, which blocks no reads or writes)"
            ),
        ),
        Validation::NotNull(column) => (
            format!("that {column} has no NULLs"),
            format!(
                "add CHECK ({column} IS NOT NULL) NOT VALID, VALIDATE it in a later transaction, then SET NOT NULL (which skips the scan when such a check is valid, Postgres 12 and later) and drop the check"
            ),
        ),
    };
    format!(
        "`{head}` checks {checked} by scanning {table} under {} on {table}, which blocks {} on {table} for the whole scan; {fix}",
        held.mode.as_sql(),
        held.mode.blocks()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::locks::{Held, MigrationLocks, NewIndex, StatementLocks};

    fn statement(n: usize, sql: &str, held: Vec<Held>) -> StatementLocks {
        StatementLocks {
            statement: n,
            line: n,
            column: 1,
            sql: sql.into(),
            sampled: false,
            truncate: false,
            held,
            rewritten: Vec::new(),
            rebuilt: Vec::new(),
            new_indexes: Vec::new(),
            validated: Vec::new(),
            rows: Vec::new(),
            own_lock_timeout: false,
        }
    }

    fn held(mode: Mode, since: usize) -> Vec<Held> {
        vec![Held {
            relation: "jobs".into(),
            mode,
            since,
        }]
    }

    fn kinds(statements: Vec<StatementLocks>) -> Vec<(Kind, usize, String)> {
        let observed = MigrationLocks {
            migration: "002_jobs.sql".into(),
            legacy: None,
            seeded: Vec::new(),
            statements,
            unindexed: Vec::new(),
            measured: Vec::new(),
        };
        migration(&observed)
            .into_iter()
            .map(|(kind, n, _, f)| (kind, n, f.message))
            .collect()
    }

    #[test]
    fn an_index_built_under_a_held_exclusive_lock_is_one_finding_that_says_so() {
        let mut build = statement(
            2,
            "CREATE INDEX jobs_chat ON jobs (chat_id)",
            held(Mode::AccessExclusive, 1),
        );
        build.new_indexes = vec![NewIndex {
            index: "jobs_chat".into(),
            table: "jobs".into(),
            constraint: None,
        }];
        build.rows = vec!["jobs".into()];
        let found = kinds(vec![
            statement(
                1,
                "ALTER TABLE jobs ADD COLUMN chat_id bigint",
                held(Mode::AccessExclusive, 1),
            ),
            build,
        ]);
        let summary: Vec<(Kind, usize)> = found.iter().map(|(k, n, _)| (*k, *n)).collect();
        assert_eq!(
            summary,
            [(Kind::MissingLockTimeout, 1), (Kind::BlockingIndexBuild, 2)]
        );
        assert!(
            found[1].2.ends_with(
                "; the ACCESS EXCLUSIVE on jobs was taken at line 1 and is still held: commit before this statement"
            ),
            "{}",
            found[1].2
        );
    }

    #[test]
    fn row_work_under_a_held_exclusive_lock_is_reported_once_per_table() {
        let update = |n| {
            let mut s = statement(
                n,
                "UPDATE jobs SET chat_id = 0",
                held(Mode::AccessExclusive, 1),
            );
            s.own_lock_timeout = true;
            s.rows = vec!["jobs".into()];
            s
        };
        let mut first = statement(
            1,
            "ALTER TABLE jobs ADD COLUMN chat_id bigint",
            held(Mode::AccessExclusive, 1),
        );
        first.own_lock_timeout = true;
        let found = kinds(vec![first, update(2), update(3)]);
        let summary: Vec<(Kind, usize)> = found.iter().map(|(k, n, _)| (*k, *n)).collect();
        assert_eq!(summary, [(Kind::LongExclusiveLock, 2)]);
    }

    #[test]
    fn a_weak_lock_needs_no_timeout_and_a_share_lock_blocks_writes_only() {
        let found = kinds(vec![statement(
            1,
            "ALTER TABLE jobs VALIDATE CONSTRAINT c",
            held(Mode::ShareUpdateExclusive, 1),
        )]);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(Mode::Share.blocks(), "writes");
        assert_eq!(Mode::AccessExclusive.blocks(), "reads and writes");
    }
}
