//! Locks observations: each migration under test, run the way its runner
//! runs it on the set applied up to it (and from each written legacy
//! state), with a few generated rows in every table that was empty, and
//! after every statement what it did to the relations that existed before
//! the migration: the locks it holds on them, whether their storage was
//! rewritten (relfilenode), which indexes and valid constraints appeared
//! and whether the table was scanned to validate them, which rows were
//! read or written, and whether the migration had set its own
//! `lock_timeout`. It judges nothing; `checks::locks` does.
//!
//! Relation locks are held to the end of a transaction, so the backend's
//! own `pg_locks` read before COMMIT is exact; a statement that cannot run
//! in a transaction (`CREATE INDEX CONCURRENTLY`) is watched from a second
//! connection by bench's sampler. Row counts come from
//! `pg_stat_xact_user_tables`, which counts within the transaction.
//!
//! The sandbox must be a database of its own: a sandbox transaction would
//! hold every lock of the migrations before the one observed.

use std::collections::BTreeMap;

use serde::Deserialize;
use tokio_postgres::Client;

use super::outcome::{ObserveError, put_legacy_sql};
use super::seed;
use crate::bench::measure::{Lock as SampledLock, Sampler};
use crate::migrations::{Migration, MigrationSet, Statement, TxNeed};
use crate::runner::{Bounded, Runner, RunnerMode, TxMode, ended_message};
use crate::sandbox::{Sandbox, Sandboxes, Strategy};
use crate::scenario::{Deployed, LegacyState, Scenario, Source};

/// A table lock mode, weakest first (the order of their conflicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl Mode {
    /// From `pg_locks.mode` (`AccessExclusiveLock`).
    pub fn parse(mode: &str) -> Option<Mode> {
        Some(match mode {
            "AccessShareLock" => Mode::AccessShare,
            "RowShareLock" => Mode::RowShare,
            "RowExclusiveLock" => Mode::RowExclusive,
            "ShareUpdateExclusiveLock" => Mode::ShareUpdateExclusive,
            "ShareLock" => Mode::Share,
            "ShareRowExclusiveLock" => Mode::ShareRowExclusive,
            "ExclusiveLock" => Mode::Exclusive,
            "AccessExclusiveLock" => Mode::AccessExclusive,
            _ => return None,
        })
    }

    /// As `LOCK TABLE` spells it.
    pub fn as_sql(self) -> &'static str {
        match self {
            Mode::AccessShare => "ACCESS SHARE",
            Mode::RowShare => "ROW SHARE",
            Mode::RowExclusive => "ROW EXCLUSIVE",
            Mode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            Mode::Share => "SHARE",
            Mode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            Mode::Exclusive => "EXCLUSIVE",
            Mode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// Whether the application's writes (ROW EXCLUSIVE) wait for it.
    pub fn blocks_writes(self) -> bool {
        self >= Mode::Share
    }

    /// What the application cannot do on the relation while it is held.
    pub fn blocks(self) -> &'static str {
        match self {
            Mode::AccessExclusive => "reads and writes",
            Mode::Exclusive | Mode::ShareRowExclusive | Mode::Share => "writes",
            _ => "no reads or writes",
        }
    }
}

/// A lock on a relation that existed before the migration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    pub relation: String,
    pub mode: Mode,
    /// The statement (1-based) that took it first.
    pub since: usize,
}

/// What a statement validated by scanning an existing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// A CHECK constraint, by name.
    Check(String),
    /// A foreign key, by name.
    ForeignKey(String),
    /// `SET NOT NULL` (or a NOT NULL constraint) on a column.
    NotNull(String),
}

/// An index that appeared on an existing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIndex {
    pub index: String,
    pub table: String,
    /// The constraint it backs: name and `contype` (`p`, `u`, `x`).
    pub constraint: Option<(String, char)>,
}

/// One statement of an observed migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLocks {
    /// 1-based, as findings report it.
    pub statement: usize,
    pub line: usize,
    pub column: usize,
    /// Its text.
    pub sql: String,
    /// Read from a second connection while it ran (outside a transaction).
    pub sampled: bool,
    pub truncate: bool,
    /// The strongest lock on each existing table at its end, held since
    /// the statement that took it.
    pub held: Vec<Held>,
    /// Existing tables (and materialized views) whose storage it replaced.
    pub rewritten: Vec<String>,
    /// Existing indexes rebuilt while their table was not rewritten:
    /// (index, table).
    pub rebuilt: Vec<(String, String)>,
    pub new_indexes: Vec<NewIndex>,
    /// (table, what) it validated by scanning the table.
    pub validated: Vec<(String, Validation)>,
    /// Existing tables whose rows it read or wrote.
    pub rows: Vec<String>,
    /// Whether the migration had set a `lock_timeout` of its own before
    /// this statement.
    pub own_lock_timeout: bool,
}

/// A foreign key a migration added whose referencing columns no index
/// leads with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnindexedForeignKey {
    pub statement: usize,
    pub line: usize,
    pub name: String,
    pub table: String,
    pub columns: String,
}

/// One migration under test, observed on one path.
#[derive(Debug, Clone)]
pub struct MigrationLocks {
    pub migration: String,
    /// The legacy state the path started from; `None` for the upgrade
    /// path (the set applied up to the migration).
    pub legacy: Option<String>,
    /// Tables migcheck filled with generated rows before it.
    pub seeded: Vec<String>,
    pub statements: Vec<StatementLocks>,
    pub unindexed: Vec<UnindexedForeignKey>,
    /// With `--project-rows`: each statement measured as bench measures
    /// it, on tables loaded with [`PROJECTION_SIZES`] rows.
    pub measured: Vec<Measured>,
}

/// One statement's wall time at each measured size.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub statement: usize,
    /// (rows, milliseconds), by rows.
    pub points: Vec<(u64, f64)>,
}

/// The table sizes `--project-rows` measures at: enough to tell a
/// constant from a linear growth, small enough for a pull request.
pub const PROJECTION_SIZES: [u64; 2] = [1_000, 10_000];

#[derive(Debug, Clone, Default)]
pub struct LocksObservation {
    pub migrations: Vec<MigrationLocks>,
    /// Migrations under test that could not be observed, and why.
    pub notes: Vec<String>,
    /// Sandboxes used.
    pub cases: usize,
}

/// Observes the migrations of `set` at `under_test` (indexes) on the
/// upgrade path and from each written legacy state, in databases of their
/// own (a template sandbox: `sandboxes`' own when it is one).
pub async fn observe(
    sandboxes: &mut Sandboxes<'_>,
    scenario: &Scenario,
    set: &MigrationSet,
    under_test: &[usize],
) -> Result<LocksObservation, ObserveError> {
    if under_test.is_empty() {
        return Ok(LocksObservation::default());
    }
    // The converge check's sandboxes keep a template per prefix of the
    // set: a clone of one is the upgrade path's start.
    if sandboxes.strategy() == Strategy::Template {
        return observe_in(sandboxes, true, scenario, set, under_test).await;
    }
    // What the held transaction created uncommitted (a role, say) would
    // make the same statement wait in the sandboxes below.
    sandboxes.set_aside().await;
    let mut own = Sandboxes::new(sandboxes.server(), Strategy::Template, sandboxes.timeouts())
        .with_access(sandboxes.access());
    let observed = observe_in(&mut own, false, scenario, set, under_test).await;
    let shut = own.shutdown().await;
    let observed = observed?;
    shut?;
    Ok(observed)
}

/// `fork`: start the upgrade path from a prefix `sandboxes` keeps, when
/// it keeps the one before the first migration under test.
async fn observe_in(
    sandboxes: &mut Sandboxes<'_>,
    fork: bool,
    scenario: &Scenario,
    set: &MigrationSet,
    under_test: &[usize],
) -> Result<LocksObservation, ObserveError> {
    let runner = scenario.runner_for(set);
    let mut observation = LocksObservation {
        cases: 1,
        ..Default::default()
    };
    let earliest = under_test.iter().copied().min().unwrap_or(0);
    let start = match fork && sandboxes.keeps(runner, &set.migrations[..earliest]) {
        true => earliest,
        false => 0,
    };
    let sandbox = match sandboxes.fork_at(runner, &set.migrations[..start]).await? {
        Ok(sandbox) => sandbox,
        // The fresh install applied: this prefix does too, but say so.
        Err(error) => {
            observation.notes.push(format!(
                "locks: {}:{} failed ({}), so nothing was observed",
                error.migration, error.line, error.message
            ));
            return Ok(observation);
        }
    };
    let path = Path {
        sandbox: &sandbox,
        sandboxes,
        runner,
        set,
        under_test,
        start,
        legacy: None,
        recorded: Vec::new(),
    };
    let result = path.walk(&mut observation).await;
    sandboxes.close(sandbox).await?;
    result?;
    if let Some(rows) = scenario.project_rows {
        project(sandboxes, runner, set, rows, &mut observation).await?;
    }
    // Legacy states a person wrote exist; lint's predictions are
    // assumptions, and past versions from git are prefixes of the path
    // or judged by converge.
    let written = scenario
        .legacy
        .iter()
        .filter(|s| s.source == Source::Written);
    for state in written {
        let Some(sandbox) = from_state(sandboxes, runner, set, state, &mut observation).await?
        else {
            continue;
        };
        observation.cases += 1;
        let recorded = match (runner.mode, first(set, state)) {
            (RunnerMode::Tracked, Some(first)) => first.iter().map(|m| m.version.clone()).collect(),
            _ => Vec::new(),
        };
        let path = Path {
            sandbox: &sandbox,
            sandboxes,
            runner,
            set,
            under_test,
            start: 0,
            legacy: Some(&state.name),
            recorded,
        };
        let result = path.walk(&mut observation).await;
        sandboxes.close(sandbox).await?;
        result?;
    }
    Ok(observation)
}

/// `--project-rows`: measures the statements of each migration that
/// blocks something, on the upgrade path, at [`PROJECTION_SIZES`] rows
/// in every table, as bench does (each statement in a transaction of its
/// own). A migration that cannot be measured gets a note instead.
async fn project(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    set: &MigrationSet,
    rows: u64,
    observation: &mut LocksObservation,
) -> Result<(), ObserveError> {
    let all = &set.migrations;
    for observed in observation.migrations.iter_mut() {
        let blocks = observed.statements.iter().any(|s| {
            s.held
                .iter()
                .any(|h| h.mode.blocks_writes() && h.since == s.statement)
        });
        let Some(k) = all.iter().position(|m| m.name == observed.migration) else {
            continue;
        };
        if !blocks {
            continue;
        }
        let mut measured: Vec<Measured> = Vec::new();
        for size in PROJECTION_SIZES {
            observation.cases += 1;
            let sandbox = sandboxes.open().await?;
            let result = measure(sandboxes.server(), &sandbox, runner, all, k, size).await;
            sandboxes.close(sandbox).await?;
            match result {
                Ok(times) => {
                    for (statement, ms) in times {
                        match measured.iter_mut().find(|m| m.statement == statement) {
                            Some(m) => m.points.push((size, ms)),
                            None => measured.push(Measured {
                                statement,
                                points: vec![(size, ms)],
                            }),
                        }
                    }
                }
                Err(why) => {
                    observation.notes.push(format!(
                        "locks: --project-rows {rows}: {} could not be measured at {size} rows: {why}",
                        observed.migration
                    ));
                    measured.clear();
                    break;
                }
            }
        }
        observed.measured = measured;
    }
    Ok(())
}

/// Each statement's wall time (ms) of migration `k`, on the set before it
/// with `rows` rows in every table.
async fn measure(
    server: &crate::postgres::Server,
    sandbox: &Sandbox,
    runner: Runner,
    all: &[Migration],
    k: usize,
    rows: u64,
) -> Result<Vec<(usize, f64)>, String> {
    let failed = |e: &dyn std::fmt::Display| e.to_string();
    if let Some(error) = sandbox
        .apply(runner, &all[..k])
        .await
        .map_err(|e| failed(&e))?
    {
        return Err(format!(
            "{}:{}: {}",
            error.migration, error.line, error.message
        ));
    }
    let client = sandbox.client();
    let database = sandbox.database().unwrap_or_default();
    crate::bench::data::load_into(server, database, rows, 1)
        .await
        .map_err(|e| failed(&e))?;
    let mut times = Vec::new();
    for (i, statement) in all[k].up.statements.iter().enumerate() {
        let m = crate::bench::measure::statement(server, database, client, statement, false)
            .await
            .map_err(|e| failed(&e))?;
        times.push((i + 1, m.wall.as_secs_f64() * 1e3));
    }
    Ok(times)
}

/// What a legacy state applies before its SQL.
fn first<'a>(set: &'a MigrationSet, state: &'a LegacyState) -> Option<&'a [Migration]> {
    match (&state.deployed, &state.upto) {
        (Some(Deployed::Set(old)), _) => Some(&old.migrations),
        (_, Some(version)) => set.prefix_len(version).ok().map(|k| &set.migrations[..k]),
        _ => None,
    }
}

/// A sandbox in a legacy state, or `None` with a note when it cannot be
/// built (the converge check reports that).
async fn from_state(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    set: &MigrationSet,
    state: &LegacyState,
    observation: &mut LocksObservation,
) -> Result<Option<Sandbox>, ObserveError> {
    // One database and one application start: no prefix is kept for
    // forks, as `converge` keeps them.
    let sandbox = sandboxes.open().await?;
    let first = first(set, state).unwrap_or(&[]);
    let mut built = sandbox.apply(runner, first).await?.is_none();
    if built {
        built = put_legacy_sql(&sandbox, state).await?.is_none();
    }
    if !built {
        sandboxes.close(sandbox).await?;
        observation.notes.push(format!(
            "locks: legacy state `{}` could not be built; its upgrade was not observed",
            state.name
        ));
        return Ok(None);
    }
    Ok(Some(sandbox))
}

/// One way to the migrations under test: the set deployed one version at
/// a time from where the sandbox is, each migration under test observed.
struct Path<'p, 's> {
    sandbox: &'p Sandbox,
    sandboxes: &'p Sandboxes<'s>,
    runner: Runner,
    set: &'p MigrationSet,
    under_test: &'p [usize],
    /// Migrations before this index are applied already.
    start: usize,
    legacy: Option<&'p str>,
    /// Versions a tracked runner finds recorded already.
    recorded: Vec<String>,
}

impl Path<'_, '_> {
    fn from(&self) -> String {
        match self.legacy {
            Some(state) => format!(" from legacy state `{state}`"),
            None => String::new(),
        }
    }

    async fn walk(&self, observation: &mut LocksObservation) -> Result<(), ObserveError> {
        let all = &self.set.migrations;
        let last = self.under_test.iter().copied().max().unwrap_or(0);
        // Tables rows were generated for on this path, by oid.
        let mut generated: Vec<u32> = Vec::new();
        for (k, migration) in all.iter().enumerate().take(last + 1).skip(self.start) {
            let skipped = self.runner.mode == RunnerMode::Tracked
                && self.recorded.contains(&migration.version);
            if !self.under_test.contains(&k) || skipped {
                if let Some(error) = self.sandbox.deploy_next(self.runner, all, k).await? {
                    observation.notes.push(format!(
                        "locks: {}:{} failed{} ({}), so the migrations under test after it were not observed",
                        error.migration,
                        error.line,
                        self.from(),
                        error.message
                    ));
                    return Ok(());
                }
                continue;
            }
            if migration
                .up
                .statements
                .iter()
                .any(|s| s.tx == TxNeed::Control)
            {
                observation.notes.push(format!(
                    "locks: {} opens or ends transactions itself; its locks were not observed",
                    migration.name
                ));
                if self
                    .sandbox
                    .deploy_next(self.runner, all, k)
                    .await?
                    .is_some()
                {
                    return Ok(());
                }
                continue;
            }
            let seeded = seed::fill_empty_tables(self.sandbox, None).await?;
            let (observed, failure) = self.migration(migration, seeded).await?;
            if self.sandbox.ended() {
                // A statement outlived every timeout and migcheck ended
                // the session: nothing after it can be observed here.
                observation.migrations.push(observed);
                observation.notes.push(format!(
                    "locks: {}{}; the statements after it, and the migrations under test after it, were not observed",
                    failure.unwrap_or_default(),
                    self.from(),
                ));
                return Ok(());
            }
            // By oid: a later migration may rename the table.
            let oids = self
                .sandbox
                .client()
                .query(
                    "SELECT to_regclass(t)::oid FROM unnest($1::text[]) t WHERE to_regclass(t) IS NOT NULL",
                    &[&observed.seeded],
                )
                .await?;
            generated.extend(oids.iter().map(|r| r.get::<_, u32>(0)));
            observation.migrations.push(observed);
            if let Some(failure) = failure {
                // A transactional migration left nothing: without the rows
                // generated on the way (which may not fit it) it may apply,
                // and the walk goes on to the next migration under test.
                let retried = migration.transaction
                    && !generated.is_empty()
                    && self.without_rows(&generated, k).await?;
                observation.notes.push(format!(
                    "locks: {failure}{}; {}",
                    self.from(),
                    match retried {
                        true => "the statements after it were not observed; it was applied without the generated rows, and the migrations after it were observed",
                        false => "the statements after it, and the migrations under test after it, were not observed",
                    }
                ));
                match retried {
                    true => continue,
                    false => return Ok(()),
                }
            }
            if self.runner.mode == RunnerMode::Tracked {
                let client = self.sandbox.client();
                client
                    .batch_execute(&self.runner.table.create_sql())
                    .await?;
                client
                    .batch_execute(&self.runner.table.record_sql(migration))
                    .await?;
            }
        }
        Ok(())
    }

    /// Empties the tables rows were generated for (those that still
    /// exist) and deploys migration `k` as the runner does; whether it
    /// applied.
    async fn without_rows(&self, generated: &[u32], k: usize) -> Result<bool, ObserveError> {
        let client = self.sandbox.client();
        let tables: Option<String> = client
            .query_one(
                "SELECT string_agg(oid::regclass::text, ', ') FROM pg_class WHERE oid = ANY($1)",
                &[&generated],
            )
            .await?
            .get(0);
        let Some(tables) = tables else {
            return Ok(false);
        };
        if client
            .batch_execute(&format!("TRUNCATE {tables} CASCADE"))
            .await
            .is_err()
        {
            return Ok(false);
        }
        let deployed = self
            .sandbox
            .deploy_next(self.runner, &self.set.migrations, k)
            .await?;
        Ok(deployed.is_none())
    }

    /// Runs `migration` as its runner would, reading the state after each
    /// statement. The second value says where it failed, if it did.
    async fn migration(
        &self,
        migration: &Migration,
        seeded: Vec<String>,
    ) -> Result<(MigrationLocks, Option<String>), ObserveError> {
        let client = self.sandbox.client();
        // An earlier deploy's `SET lock_timeout` does not carry over: each
        // deploy is a new session. migcheck's own limit is the default.
        client.batch_execute("RESET lock_timeout").await?;
        let query = State::prepare(client).await?;
        let base = State::read(client, &query).await?;
        let mut observed = MigrationLocks {
            migration: migration.name.clone(),
            legacy: self.legacy.map(str::to_string),
            seeded,
            statements: Vec::new(),
            unindexed: Vec::new(),
            measured: Vec::new(),
        };
        let in_transaction = migration.transaction && self.runner.tx != TxMode::PerStatement;
        let mut prev = base.clone();
        if in_transaction {
            client.batch_execute("BEGIN").await?;
        }
        let mut failure = None;
        let mut since: BTreeMap<(u32, Mode), usize> = BTreeMap::new();
        let mut foreign_keys = BTreeMap::new();
        for (index, statement) in migration.up.statements.iter().enumerate() {
            let number = index + 1;
            let run = match (in_transaction, statement.outside_transaction()) {
                (true, _) => self.exec(statement).await.map(|()| None),
                (false, true) => self.sampled(statement).await.map(Some),
                (false, false) => {
                    // Autocommit: the statement's own transaction, read
                    // before it commits.
                    client.batch_execute("BEGIN").await?;
                    since.clear();
                    prev = State {
                        locks: Vec::new(),
                        stats: Vec::new(),
                        ..prev
                    };
                    self.exec(statement).await.map(|()| None)
                }
            };
            let sampled = match run {
                Ok(sampled) => sampled,
                Err(message) => {
                    let open = in_transaction || !statement.outside_transaction();
                    if open && !self.sandbox.ended() {
                        client.batch_execute("ROLLBACK").await?;
                    }
                    failure = Some(format!(
                        "{}:{} failed: {message}",
                        migration.name, statement.line
                    ));
                    break;
                }
            };
            let mut after = State::read(client, &query).await?;
            if let Some(seen) = &sampled {
                after.locks = after.locks_named(seen);
            }
            if !in_transaction && !statement.outside_transaction() {
                client.batch_execute("COMMIT").await?;
            }
            for lock in &after.locks {
                since.entry((lock.oid, lock.mode)).or_insert(number);
            }
            let added = after.cons.iter().filter(|c| c.kind == "f");
            for con in added.filter(|c| !base.cons.iter().any(|b| b.oid == c.oid)) {
                foreign_keys
                    .entry(con.oid)
                    .or_insert((number, statement.line));
            }
            observed.statements.push(compare(
                &base,
                &prev,
                &after,
                number,
                statement,
                sampled.is_some(),
                &since,
            ));
            prev = after;
        }
        if in_transaction && failure.is_none() {
            client.batch_execute("COMMIT").await?;
        }
        if failure.is_none() {
            observed.unindexed = unindexed(client, &foreign_keys).await?;
        }
        Ok((observed, failure))
    }

    async fn exec(&self, statement: &Statement) -> Result<(), String> {
        match self.sandbox.execute(&statement.sql).await {
            Bounded::Answered { result, .. } => result.map_err(|e| crate::sandbox::db_message(&e)),
            Bounded::Ended => Err(ended_message(self.sandbox.timeouts())),
        }
    }

    /// A statement outside a transaction, its locks sampled as bench does
    /// (by relation name).
    async fn sampled(&self, statement: &Statement) -> Result<Vec<SampledLock>, String> {
        let database = self.sandbox.database().unwrap_or_default();
        let pid = self.sandbox.backend_pid();
        let sampler = Sampler::start(self.sandboxes.server(), database, pid)
            .await
            .map_err(|e| e.to_string())?;
        let result = self.exec(statement).await;
        let seen = sampler.stop().await;
        result?;
        Ok(seen.into_keys().collect())
    }
}

/// The foreign keys among `added` (by oid: statement and line) that no
/// index of their table leads with, at the migration's end.
async fn unindexed(
    client: &Client,
    added: &BTreeMap<u32, (usize, usize)>,
) -> Result<Vec<UnindexedForeignKey>, tokio_postgres::Error> {
    let rows = client.query(UNINDEXED_FOREIGN_KEYS, &[]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let &(statement, line) = added.get(&row.get::<_, u32>(0))?;
            Some(UnindexedForeignKey {
                statement,
                line,
                name: row.get(1),
                table: row.get(2),
                columns: row.get(3),
            })
        })
        .collect())
}

/// Foreign keys whose referencing columns are not the leading columns (in
/// any order) of an index of their table.
const UNINDEXED_FOREIGN_KEYS: &str = "
    SELECT k.oid, k.conname::text, k.conrelid::regclass::text,
           (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n)
            FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum)
    FROM pg_constraint k
    WHERE k.contype = 'f'
      AND NOT EXISTS (
        SELECT FROM pg_index i
        WHERE i.indrelid = k.conrelid
          AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] @> k.conkey
          AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] <@ k.conkey)";

/// A relation lock of the own backend, by oid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
struct Lock {
    oid: u32,
    #[serde(deserialize_with = "mode")]
    mode: Mode,
}

fn mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
    let text = String::deserialize(d)?;
    Mode::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("lock mode {text}")))
}

#[derive(Debug, Clone, Deserialize)]
struct Rel {
    oid: u32,
    name: String,
    /// `relkind`.
    kind: String,
    node: Option<u32>,
    /// An index's table.
    table: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
struct Con {
    oid: u32,
    name: String,
    table: u32,
    kind: String,
    valid: bool,
    index: u32,
}

#[derive(Debug, Clone, Deserialize)]
struct Stat {
    oid: u32,
    scans: i64,
    rows: i64,
}

/// What one query reads after each statement (oids as `int8`: JSON
/// prints `oid` as a string).
#[derive(Debug, Clone, Deserialize)]
struct State {
    rels: Vec<Rel>,
    locks: Vec<Lock>,
    cons: Vec<Con>,
    /// (table, column) of NOT NULL columns.
    notnull: Vec<(u32, String)>,
    stats: Vec<Stat>,
    /// `lock_timeout` set by the session (SET, SET LOCAL), not by
    /// migcheck's connection options.
    timeout: bool,
}

const STATE: &str = "
    WITH rel AS (
        SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I')
          AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%')
    SELECT json_build_object(
      'rels', (SELECT coalesce(json_agg(json_build_object(
                   'oid', r.oid::int8, 'name', r.oid::regclass::text, 'kind', r.relkind,
                   'node', pg_relation_filenode(r.oid)::int8, 'table', i.indrelid::int8)), '[]')
               FROM rel r LEFT JOIN pg_index i ON i.indexrelid = r.oid),
      'locks', (SELECT coalesce(json_agg(json_build_object('oid', l.relation::int8, 'mode', l.mode)), '[]')
                FROM pg_locks l JOIN rel r ON r.oid = l.relation
                WHERE l.locktype = 'relation' AND l.granted AND l.pid = pg_backend_pid()
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())),
      'cons', (SELECT coalesce(json_agg(json_build_object(
                   'oid', k.oid::int8, 'name', k.conname, 'table', k.conrelid::int8, 'kind', k.contype,
                   'valid', k.convalidated, 'index', k.conindid::int8)), '[]')
               FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid),
      'notnull', (SELECT coalesce(json_agg(json_build_array(a.attrelid::int8, a.attname)), '[]')
                  FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid AND r.relkind IN ('r', 'p')
                  WHERE a.attnotnull AND a.attnum > 0 AND NOT a.attisdropped),
      'stats', (SELECT coalesce(json_agg(json_build_object(
                   'oid', s.relid::int8, 'scans', s.seq_scan + coalesce(s.idx_scan, 0),
                   'rows', s.seq_tup_read + coalesce(s.idx_tup_fetch, 0)
                           + s.n_tup_ins + s.n_tup_upd + s.n_tup_del)), '[]')
                FROM pg_stat_xact_user_tables s),
      'timeout', (SELECT source = 'session' AND setting <> '0' FROM pg_settings
                  WHERE name = 'lock_timeout'))::text";

impl State {
    /// The state query, prepared once per migration: it runs after every
    /// statement, and planning it costs twice what running it does.
    async fn prepare(client: &Client) -> Result<tokio_postgres::Statement, ObserveError> {
        Ok(client.prepare(STATE).await?)
    }

    async fn read(
        client: &Client,
        query: &tokio_postgres::Statement,
    ) -> Result<State, ObserveError> {
        let text: String = client.query_one(query, &[]).await?.get(0);
        serde_json::from_str(&text).map_err(|e| ObserveError::State(e.to_string()))
    }

    /// Sampled locks, by the oid of the relation of that name here.
    fn locks_named(&self, seen: &[SampledLock]) -> Vec<Lock> {
        seen.iter()
            .filter_map(|lock| {
                Some(Lock {
                    oid: self.rels.iter().find(|r| r.name == lock.relation)?.oid,
                    mode: Mode::parse(&lock.mode)?,
                })
            })
            .collect()
    }

    fn rel(&self, oid: u32) -> Option<&Rel> {
        self.rels.iter().find(|r| r.oid == oid)
    }

    fn stat(&self, oid: u32) -> (i64, i64) {
        self.stats
            .iter()
            .find(|s| s.oid == oid)
            .map_or((0, 0), |s| (s.scans, s.rows))
    }
}

/// What statement `number` did, from the states before the migration
/// (`base`), before the statement (`prev`) and after it.
fn compare(
    base: &State,
    prev: &State,
    after: &State,
    number: usize,
    statement: &Statement,
    sampled: bool,
    since: &BTreeMap<(u32, Mode), usize>,
) -> StatementLocks {
    let existing = |oid: u32| base.rel(oid);
    let name = |oid: u32| {
        after
            .rel(oid)
            .or(base.rel(oid))
            .map_or_else(|| oid.to_string(), |r| r.name.clone())
    };
    let is_table = |r: &Rel| matches!(r.kind.as_str(), "r" | "p" | "m");
    // The strongest lock on each existing table.
    let mut strongest: BTreeMap<u32, (Mode, usize)> = BTreeMap::new();
    for lock in &after.locks {
        let Some(rel) = existing(lock.oid).filter(|r| is_table(r)) else {
            continue;
        };
        let taken = since.get(&(lock.oid, lock.mode)).copied().unwrap_or(number);
        let entry = strongest.entry(rel.oid).or_insert((lock.mode, taken));
        if lock.mode > entry.0 {
            *entry = (lock.mode, taken);
        }
    }
    let held = strongest
        .iter()
        .map(|(&oid, &(mode, since))| Held {
            relation: name(oid),
            mode,
            since,
        })
        .collect();
    let changed = |r: &Rel| prev.rel(r.oid).is_some_and(|p| p.node != r.node);
    let rewritten: Vec<u32> = after
        .rels
        .iter()
        .filter(|r| is_table(r) && existing(r.oid).is_some() && changed(r))
        .map(|r| r.oid)
        .collect();
    let rebuilt = after
        .rels
        .iter()
        .filter(|r| existing(r.oid).is_some() && !is_table(r) && changed(r))
        .filter_map(|r| Some((r, r.table?)))
        .filter(|(_, table)| !rewritten.contains(table))
        .map(|(r, table)| (r.name.clone(), name(table)))
        .collect();
    // An index rebuilt by a rewrite (ALTER COLUMN TYPE) comes back under
    // its old name with a new oid: part of the rewrite, not new.
    let new_indexes = after
        .rels
        .iter()
        .filter(|r| prev.rel(r.oid).is_none() && !prev.rels.iter().any(|p| p.name == r.name))
        .filter_map(|r| Some((r, r.table?)))
        .filter(|(_, table)| existing(*table).is_some() && !rewritten.contains(table))
        .map(|(r, table)| NewIndex {
            index: r.name.clone(),
            table: name(table),
            constraint: after
                .cons
                .iter()
                .find(|c| c.index == r.oid && matches!(c.kind.as_str(), "p" | "u" | "x"))
                .map(|c| (c.name.clone(), c.kind.chars().next().unwrap_or('u'))),
        })
        .collect();
    let scanned = |table: u32| after.stat(table).0 > prev.stat(table).0;
    let mut validated = Vec::new();
    for con in &after.cons {
        let was_valid = prev.cons.iter().any(|c| c.oid == con.oid && c.valid);
        let what = match con.kind.as_str() {
            "c" => Validation::Check(con.name.clone()),
            "f" => Validation::ForeignKey(con.name.clone()),
            // PG 18's NOT NULL constraints: the column below says it.
            _ => continue,
        };
        if con.valid && !was_valid && existing(con.table).is_some() && scanned(con.table) {
            validated.push((name(con.table), what));
        }
    }
    // A column added NOT NULL with a default is not checked; one that is
    // set NOT NULL is, unless a valid CHECK (x IS NOT NULL) proves it.
    for (table, column) in &after.notnull {
        let new = !prev.notnull.contains(&(*table, column.clone()));
        if new && existing(*table).is_some() && scanned(*table) {
            validated.push((name(*table), Validation::NotNull(column.clone())));
        }
    }
    validated.retain(|(table, _)| !rewritten.iter().any(|&oid| &name(oid) == table));
    let rows = after
        .stats
        .iter()
        .filter(|s| existing(s.oid).is_some() && s.rows > prev.stat(s.oid).1)
        .map(|s| name(s.oid))
        .collect();
    StatementLocks {
        statement: number,
        line: statement.line,
        column: statement.column,
        sql: statement.sql.clone(),
        sampled,
        truncate: first_word(&statement.sql).eq_ignore_ascii_case("truncate"),
        held,
        rewritten: rewritten.into_iter().map(name).collect(),
        rebuilt,
        new_indexes,
        validated,
        rows,
        own_lock_timeout: prev.timeout,
    }
}

fn first_word(sql: &str) -> &str {
    sql.split(|c: char| !c.is_ascii_alphabetic())
        .find(|w| !w.is_empty())
        .unwrap_or_default()
}
