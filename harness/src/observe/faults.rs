//! Fault injection: every migration is interrupted at every statement
//! boundary, the state it leaves is read, and the set is run again (the
//! next deploy) to see whether it converges to a fresh install. It judges
//! nothing; `checks::faults` does.
//!
//! Under a `tracked` runner only migrations that are not atomic are
//! interrupted (outside a transaction, `--tx per-statement`, or committing
//! inside): a transactional one interrupted leaves the state before it,
//! from which the next deploy applies exactly the fresh install's suffix.
//!
//! Interruptions:
//! - `error`: statement k fails (an injected statement raising an error
//!   takes its place), in every migration. The runner handles the failure
//!   as it would any other: a transactional migration rolls back.
//! - `cancel` / `terminate`: statement k is cancelled, or its connection
//!   killed, while it runs. Only statements that commit part of their
//!   work before they finish (`CONCURRENTLY`) can leave something else
//!   than `error` does; they are held on a lock by a second connection,
//!   and interrupted from a third once they wait on it. These need a
//!   database of their own (template sandboxes), which such statements
//!   force anyway.
//!
//! Cost: each path is a fork of the set applied up to its migration
//! (`Sandboxes::fork_at`): a rollback to a savepoint in a transaction
//! sandbox, one clone of a cached prefix in template sandboxes. The next deploy is run once
//! per distinct state (schema fingerprint and table checksums): the paths
//! of a transactional migration all leave the state before it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::outcome::ObserveError;
use crate::data::TableData;
use crate::migrations::{Migration, MigrationSet, Script, Statement, TxNeed};
use crate::runner::{ApplyError, Runner, RunnerMode, TxMode};
use crate::sandbox::{Sandbox, SandboxError, Sandboxes};
use crate::scenario::Scenario;
use crate::schema::Snapshot;

/// How statement k is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// The statement fails.
    Error,
    /// The statement is cancelled while it runs (`pg_cancel_backend`).
    Cancel,
    /// The connection is killed while the statement runs
    /// (`pg_terminate_backend`).
    Terminate,
}

impl Interruption {
    pub fn as_str(self) -> &'static str {
        match self {
            Interruption::Error => "failed",
            Interruption::Cancel => "was cancelled",
            Interruption::Terminate => "lost its connection",
        }
    }
}

/// A database state and what the next deploy makes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub snapshot: Snapshot,
    pub data: TableData,
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct FaultPath {
    /// Index of the migration in the set.
    pub index: usize,
    pub migration: String,
    /// 1-based: the statement that failed or was interrupted.
    pub statement: usize,
    pub line: usize,
    pub how: Interruption,
    /// The migration runs in one transaction with the scenario's runner,
    /// so an interruption must leave the state from before it.
    pub atomic: bool,
    /// What the interruption left.
    pub left: State,
    /// The next deploy: `None` when not run (see
    /// [`FaultsObservation::recovery_skipped`]).
    pub recovery: Option<Result<Snapshot, ApplyError>>,
}

#[derive(Debug, Clone, Default)]
pub struct FaultsObservation {
    /// The state before each migration faults were injected into (the set
    /// applied up to it), by the migration's index.
    pub before: BTreeMap<usize, State>,
    /// Migrations left alone because Postgres makes them atomic (see
    /// [`atomic_by_the_server`]).
    pub skipped_atomic: usize,
    /// The fresh install the next deploy must converge to.
    pub fresh: Option<Snapshot>,
    pub paths: Vec<FaultPath>,
    /// Deploys run after an interruption (one per distinct state).
    pub recoveries: usize,
    /// Why no next deploy was run: the set does not run twice cleanly,
    /// which the rerun check reports.
    pub recovery_skipped: Option<String>,
}

/// Injects every fault into `set`.
pub async fn observe(
    sandboxes: &mut Sandboxes<'_>,
    scenario: &Scenario,
    set: &MigrationSet,
) -> Result<FaultsObservation, ObserveError> {
    let runner = scenario.runner_for(set);
    let mut observation = FaultsObservation::default();
    let mut memo = Memo::default();
    baseline(sandboxes, runner, set, &mut observation).await?;
    paths(
        sandboxes,
        runner,
        scenario,
        set,
        &mut observation,
        &mut memo,
    )
    .await?;
    observation.recoveries = memo.runs;
    Ok(observation)
}

/// The fresh install, and whether deploying again on it is clean: if not,
/// a deploy after an interruption cannot be judged.
async fn baseline(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    set: &MigrationSet,
    observation: &mut FaultsObservation,
) -> Result<(), ObserveError> {
    let sandbox = sandboxes.open().await?;
    let result = async {
        let all = &set.migrations;
        if sandbox.apply(runner, all).await?.is_some() {
            // The fresh check reports it; there is nothing to converge to.
            observation.recovery_skipped =
                Some("the set does not apply on an empty database".into());
            return Ok(());
        }
        let fresh = sandbox.snapshot().await?;
        let again = sandbox.apply(runner, all).await?;
        let clean = again.is_none() && sandbox.snapshot().await? == fresh;
        if !clean {
            observation.recovery_skipped = Some(
                "deploying the set twice already fails or changes the schema (see the rerun check)"
                    .into(),
            );
        }
        observation.fresh = Some(fresh);
        Ok::<_, ObserveError>(())
    }
    .await;
    sandboxes.close(sandbox).await?;
    result
}

/// The next deploys already run, by state.
#[derive(Default)]
struct Memo {
    recoveries: BTreeMap<String, Result<Snapshot, ApplyError>>,
    runs: usize,
}

fn key(state: &State) -> String {
    format!("{} {:?}", state.snapshot.fingerprint(), state.data.tables)
}

/// For each migration: the state before it, then every path, each in a
/// fork of the set applied up to it.
async fn paths(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    scenario: &Scenario,
    set: &MigrationSet,
    observation: &mut FaultsObservation,
    memo: &mut Memo,
) -> Result<(), ObserveError> {
    let all = &set.migrations;
    for (index, migration) in all.iter().enumerate() {
        if exempt(scenario, migration) {
            continue;
        }
        if atomic_by_the_server(runner, migration) {
            observation.skipped_atomic += 1;
            continue;
        }
        let Ok(sandbox) = sandboxes.fork_at(runner, &all[..index]).await? else {
            break;
        };
        let before = match version_table(runner, &sandbox).await {
            Ok(()) => read(&sandbox).await,
            Err(e) => Err(e),
        };
        sandboxes.close(sandbox).await?;
        observation.before.insert(index, before?);
        let autocommit = !migration.transaction || runner.tx == TxMode::PerStatement;
        for (k, statement) in migration.up.statements.iter().enumerate() {
            // Only a statement that commits part of its work before it
            // finishes can leave something else when cut off than when it
            // fails; such statements never run in a transaction sandbox.
            let mut kinds = vec![Interruption::Error];
            if autocommit && statement.tx == TxNeed::NoTransaction {
                kinds.extend([Interruption::Cancel, Interruption::Terminate]);
            }
            for how in kinds {
                let at = Fault {
                    index,
                    k: k + 1,
                    how,
                };
                if let Some(path) = one_path(sandboxes, runner, set, at, observation, memo).await? {
                    observation.paths.push(path);
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    index: usize,
    k: usize,
    how: Interruption,
}

/// One path in a fork of its own, closed at the end.
async fn one_path(
    sandboxes: &mut Sandboxes<'_>,
    runner: Runner,
    set: &MigrationSet,
    at: Fault,
    observation: &FaultsObservation,
    memo: &mut Memo,
) -> Result<Option<FaultPath>, ObserveError> {
    let all = &set.migrations;
    let migration = &all[at.index];
    let Ok(sandbox) = sandboxes.fork_at(runner, &all[..at.index]).await? else {
        return Ok(None);
    };
    let (sandbox, interrupted) = match at.how {
        Interruption::Error => {
            let mut run: Vec<Migration> = all[..at.index].to_vec();
            let interrupted = match failing_at(migration, at.k) {
                Ok(faulty) => {
                    run.push(faulty);
                    sandbox
                        .deploy_next(runner, &run, at.index)
                        .await
                        .map(|e| e.is_some())
                        .map_err(ObserveError::from)
                }
                Err(e) => Err(e),
            };
            (sandbox, interrupted)
        }
        Interruption::Cancel => {
            let interrupted = interrupt(sandboxes, &sandbox, migration, at).await;
            (sandbox, interrupted)
        }
        Interruption::Terminate => {
            let interrupted = interrupt(sandboxes, &sandbox, migration, at).await;
            (sandboxes.reconnect(sandbox).await?, interrupted)
        }
    };
    let result = async {
        if !interrupted? {
            return Ok(None);
        }
        let left = read(&sandbox).await?;
        let path = path(runner, migration, at.index, at.k, at.how, left);
        recover(&sandbox, runner, set, observation, memo, path)
            .await
            .map(Some)
    }
    .await;
    sandboxes.close(sandbox).await?;
    result
}

/// Runs migration statements 1..k-1 (each committed on its own, as the
/// runner does for this migration), then statement k held on a lock by a
/// second connection, and cancels it (or kills its connection) from a
/// third once it waits. False when statement k did not wait: it finished,
/// and nothing was interrupted.
async fn interrupt(
    sandboxes: &Sandboxes<'_>,
    sandbox: &Sandbox,
    migration: &Migration,
    at: Fault,
) -> Result<bool, ObserveError> {
    let mut head = migration.clone();
    head.up.statements.truncate(at.k - 1);
    let by_hand = Runner {
        mode: RunnerMode::RerunAll,
        tx: TxMode::PerStatement,
        ..Runner::default()
    };
    if sandbox.apply(by_hand, &[head]).await?.is_some() {
        return Ok(false);
    }
    let server = sandboxes.server();
    let admin = server.admin_database();
    let database = sandbox.database().unwrap_or(&admin);
    let blocker = server.connect(database).await.map_err(SandboxError::from)?;
    let watcher = server.connect(&admin).await.map_err(SandboxError::from)?;
    let pid = sandbox.backend_pid();
    let tables: Vec<String> = blocker
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_%'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // ROW EXCLUSIVE: what any writer holds, and what CONCURRENTLY waits
    // for after it has committed its first step.
    let mut hold = "BEGIN".to_string();
    if !tables.is_empty() {
        hold.push_str(&format!(
            "; LOCK TABLE {} IN ROW EXCLUSIVE MODE",
            tables.join(", ")
        ));
    }
    blocker.batch_execute(&hold).await?;
    let stop = match at.how {
        Interruption::Terminate => "SELECT pg_terminate_backend($1)",
        _ => "SELECT pg_cancel_backend($1)",
    };
    let statement = &migration.up.statements[at.k - 1];
    // Bounded: a statement that catches the cancel and waits again would
    // otherwise wait on the blocker forever.
    let run = sandbox.execute(&statement.sql);
    let stop_sent = std::cell::Cell::new(false);
    let watch = async {
        // Up to ~10 s for the statement to reach the lock.
        for _ in 0..10_000 {
            let waiting: Option<String> = watcher
                .query_opt(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                    &[&pid],
                )
                .await?
                .and_then(|r| r.get(0));
            if waiting.as_deref() == Some("Lock") {
                stop_sent.set(true);
                watcher.execute(stop, &[&pid]).await?;
                return Ok::<bool, tokio_postgres::Error>(true);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(false)
    };
    tokio::pin!(run);
    let interrupted = tokio::select! {
        // The stop can end the statement before the watch returns, and
        // select! polls in random order: what counts is that it was sent.
        _ = &mut run => stop_sent.get(),
        stopped = watch => {
            let stopped = stopped?;
            let _ = run.await;
            stopped
        }
    };
    blocker.batch_execute("ROLLBACK").await?;
    Ok(interrupted)
}

/// A tracked runner creates its version table when a deploy starts,
/// before any migration: it is part of the state before the first one.
async fn version_table(runner: Runner, sandbox: &Sandbox) -> Result<(), ObserveError> {
    if runner.mode == RunnerMode::Tracked {
        sandbox.apply(runner, &[]).await?;
    }
    Ok(())
}

/// Whether, under a `tracked` runner, an interruption of `migration` can
/// only leave the state from before it, so that injecting faults into it
/// would re-prove the server's guarantee: it runs in a transaction (per
/// file or around the set) and does not commit inside, or it is one
/// statement that runs in one. The next deploy then applies what a fresh
/// install applies from there. Under `rerun-all` every migration is
/// interrupted: the next deploy runs the whole set again on what was left.
fn atomic_by_the_server(runner: Runner, migration: &Migration) -> bool {
    if runner.mode != RunnerMode::Tracked {
        return false;
    }
    let statements = &migration.up.statements;
    let in_transaction = migration.transaction && runner.tx != TxMode::PerStatement;
    match in_transaction {
        true => !statements.iter().any(|s| s.tx == TxNeed::Control),
        false => statements.len() <= 1 && !statements.iter().any(Statement::outside_transaction),
    }
}

/// Whether the scenario exempts the migration (`not_atomic:`).
fn exempt(scenario: &Scenario, migration: &Migration) -> bool {
    scenario
        .not_atomic
        .iter()
        .any(|o| o.migration == migration.name)
}

fn path(
    runner: Runner,
    migration: &Migration,
    index: usize,
    k: usize,
    how: Interruption,
    left: State,
) -> FaultPath {
    FaultPath {
        index,
        migration: migration.name.clone(),
        statement: k,
        line: migration.up.statements[k - 1].line,
        how,
        atomic: migration.transaction && runner.tx != TxMode::PerStatement,
        left,
        recovery: None,
    }
}

/// The next deploy after `path`, once per distinct state.
async fn recover(
    sandbox: &Sandbox,
    runner: Runner,
    set: &MigrationSet,
    observation: &FaultsObservation,
    memo: &mut Memo,
    mut path: FaultPath,
) -> Result<FaultPath, ObserveError> {
    if observation.recovery_skipped.is_some() {
        return Ok(path);
    }
    let key = key(&path.left);
    if let Some(known) = memo.recoveries.get(&key) {
        path.recovery = Some(known.clone());
        return Ok(path);
    }
    sandbox.mark("migcheck_recover").await?;
    let recovery = match sandbox.apply(runner, &set.migrations).await? {
        Some(error) => Err(error),
        None => Ok(sandbox.snapshot().await?),
    };
    sandbox.rewind("migcheck_recover").await?;
    sandbox.release("migcheck_recover").await?;
    memo.runs += 1;
    memo.recoveries.insert(key, recovery.clone());
    path.recovery = Some(recovery);
    Ok(path)
}

/// The migration with statement `k` replaced by one that raises an error,
/// and the statements after it dropped. The injected statement takes the
/// position of the one it replaces, so errors point at that line.
fn failing_at(migration: &Migration, k: usize) -> Result<Migration, ObserveError> {
    let injected = Script::parse(
        Path::new("migcheck fault"),
        format!(
            "DO $$BEGIN RAISE EXCEPTION 'migcheck: injected fault at statement {k} of {}'; END$$",
            migration.name.replace('\'', "''").replace('$', "")
        ),
    )
    .map_err(|source| ObserveError::Upto {
        state: "injected fault".into(),
        source,
    })?;
    let original = &migration.up.statements[k - 1];
    let mut fault: Statement = injected.statements[0].clone();
    fault.offset = original.offset;
    fault.line = original.line;
    fault.column = original.column;
    let mut faulty = migration.clone();
    faulty.up.statements.truncate(k - 1);
    faulty.up.statements.push(fault);
    Ok(faulty)
}

async fn read(sandbox: &Sandbox) -> Result<State, ObserveError> {
    Ok(State {
        snapshot: sandbox.snapshot().await?,
        data: TableData::read(sandbox.client()).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sql` as a migration that runs in a transaction or not, and whether
    /// faults are injected into it under `runner`.
    fn check(mode: RunnerMode, tx: TxMode, transaction: bool, sql: &str, injected: bool) {
        let up = Script::parse(Path::new("m.sql"), sql.to_string()).expect("test SQL parses");
        let migration = Migration {
            version: "1".into(),
            name: "m.sql".into(),
            path: "m.sql".into(),
            up,
            down: None,
            transaction,
        };
        let runner = Runner {
            mode,
            tx,
            ..Runner::default()
        };
        assert_eq!(
            !atomic_by_the_server(runner, &migration),
            injected,
            "{mode:?} {tx:?} transaction={transaction}: {sql}"
        );
    }

    #[test]
    fn under_tracked_only_what_postgres_does_not_make_atomic_is_interrupted() {
        use RunnerMode::{RerunAll, Tracked};
        use TxMode::{PerFile, PerStatement, Set};
        let two = "CREATE TABLE a (id int); CREATE TABLE b (id int)";
        let commits = "CREATE TABLE a (id int); COMMIT; CREATE TABLE b (id int)";
        let concurrently = "CREATE INDEX CONCURRENTLY i ON a (id)";
        for (mode, tx, transaction, sql, injected) in [
            // One transaction per file or around the set: atomic.
            (Tracked, PerFile, true, two, false),
            (Tracked, Set, true, two, false),
            // ... unless the file commits inside.
            (Tracked, PerFile, true, commits, true),
            // Outside a transaction: each statement commits on its own.
            (Tracked, PerStatement, true, two, true),
            (Tracked, PerFile, false, two, true),
            (Tracked, PerFile, false, concurrently, true),
            // One statement outside a transaction is still atomic.
            (Tracked, PerFile, false, "CREATE TABLE a (id int)", false),
            // Under rerun-all the next deploy runs the whole set again on
            // what was left: every migration is interrupted.
            (RerunAll, PerFile, true, two, true),
            (RerunAll, PerFile, false, "CREATE TABLE a (id int)", true),
        ] {
            check(mode, tx, transaction, sql, injected);
        }
    }
}
