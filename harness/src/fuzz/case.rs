//! One fuzz case: a generated legacy state built in a sandbox, the whole
//! set applied on top of it, and the verdict: the set failed there, or
//! ended with a schema other than a fresh install's, beyond what the
//! state's own hand-made changes explain.

use generators::legacy::{LegacyCase, Mutation};

use crate::finding::{Finding, Kind};
use crate::migrations::MigrationSet;
use crate::observe::{ObserveError, prefix_sandbox, step};
use crate::runner::{Nesting, Runner};
use crate::sandbox::{Sandbox, SandboxError, Sandboxes, Strategy};
use crate::schema::{self, Change, Snapshot};

/// What every case runs against.
pub struct Target<'a> {
    pub set: &'a MigrationSet,
    pub runner: Runner,
    /// The schema after a fresh install, and its fingerprint.
    pub fresh: &'a Snapshot,
    pub fingerprint: &'a str,
}

/// A case's verdict.
#[derive(Debug, Clone)]
pub enum Verdict {
    Pass,
    /// The state could not be built (a crash mid-migration that cannot
    /// happen with this set): neither a pass nor a failure.
    Impossible,
    Fail(Box<Failure>),
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub finding: Finding,
    /// The statements of the state that the server accepted, in order:
    /// what a scenario must run to build the same state.
    pub applied: Vec<String>,
}

/// One worker's sandboxes. In a transaction sandbox a worker keeps one
/// transaction open across its cases, with a savepoint after each version
/// it has built: a case at version k rolls back to k's savepoint (or builds
/// forward from the highest one), so the prefix costs a rollback, not k
/// migrations.
pub struct Worker<'s> {
    sandboxes: Sandboxes<'s>,
    held: Option<Held>,
}

/// The open transaction: its sandbox, the versions built (savepoints
/// `migcheck_version_0..=built`), and the snapshot queries prepared on its
/// connection.
struct Held {
    sandbox: Sandbox,
    built: usize,
    prepared: schema::Prepared,
}

impl<'s> Worker<'s> {
    pub fn new(sandboxes: Sandboxes<'s>) -> Worker<'s> {
        Worker {
            sandboxes,
            held: None,
        }
    }

    /// The sandbox databases this worker created go.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        if let Some(held) = self.held.take() {
            self.sandboxes.close(held.sandbox).await?;
        }
        self.sandboxes.shutdown().await
    }

    pub fn sandboxes(&mut self) -> &mut Sandboxes<'s> {
        &mut self.sandboxes
    }

    /// Builds `case`, applies the set and judges.
    pub async fn run(
        &mut self,
        target: &Target<'_>,
        case: &LegacyCase,
    ) -> Result<Verdict, ObserveError> {
        if self.sandboxes.strategy() != Strategy::Transaction {
            return run_alone(&mut self.sandboxes, target, case).await;
        }
        let held = self.hold().await?;
        if !held.at_version(target, case.upto).await? {
            return Ok(Verdict::Impossible);
        }
        build_and_apply(&held.sandbox, Some(&held.prepared), target, case).await
    }

    /// The held transaction, opened on first use with the snapshot queries
    /// prepared on its connection.
    async fn hold(&mut self) -> Result<&mut Held, ObserveError> {
        let held = match self.held.take() {
            Some(held) => held,
            None => {
                let sandbox = self.sandboxes.open().await?;
                let prepared = match schema::prepare(sandbox.client()).await {
                    Ok(prepared) => prepared,
                    Err(e) => {
                        self.sandboxes.close(sandbox).await?;
                        return Err(e.into());
                    }
                };
                sandbox
                    .client()
                    .batch_execute("SAVEPOINT migcheck_version_0")
                    .await?;
                Held {
                    sandbox,
                    built: 0,
                    prepared,
                }
            }
        };
        Ok(self.held.insert(held))
    }
}

impl Held {
    /// Puts the transaction at version `k`: rolls back to its savepoint,
    /// building the versions up to it first if needed. `false` when a
    /// migration of the prefix fails.
    async fn at_version(&mut self, target: &Target<'_>, k: usize) -> Result<bool, ObserveError> {
        let client = self.sandbox.client();
        self.built = self.built.min(k);
        client
            .batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT migcheck_version_{}",
                self.built
            ))
            .await?;
        while self.built < k {
            if step(
                target.runner,
                &self.sandbox,
                &target.set.migrations,
                self.built,
            )
            .await?
            .is_some()
            {
                client
                    .batch_execute(&format!(
                        "ROLLBACK TO SAVEPOINT migcheck_version_{}",
                        self.built
                    ))
                    .await?;
                return Ok(false);
            }
            self.built += 1;
            client
                .batch_execute(&format!("SAVEPOINT migcheck_version_{}", self.built))
                .await?;
        }
        Ok(true)
    }
}

/// A case in a sandbox of its own (template clones): the prefix comes from
/// a database kept per version.
async fn run_alone(
    sandboxes: &mut Sandboxes<'_>,
    target: &Target<'_>,
    case: &LegacyCase,
) -> Result<Verdict, ObserveError> {
    let all = &target.set.migrations;
    let sandbox = match prefix_sandbox(sandboxes, target.runner, &all[..case.upto]).await? {
        Ok(sandbox) => sandbox,
        Err(_) => return Ok(Verdict::Impossible),
    };
    let verdict = build_and_apply(&sandbox, None, target, case).await;
    sandboxes.close(sandbox).await?;
    verdict
}

async fn build_and_apply(
    sandbox: &Sandbox,
    prepared: Option<&schema::Prepared>,
    target: &Target<'_>,
    case: &LegacyCase,
) -> Result<Verdict, ObserveError> {
    let client = sandbox.client();
    // A runner that died after `j` statements of the next migration left
    // them committed: they run one by one, as such a runner sends them.
    let mut applied = Vec::new();
    if let (Some(j), Some(next)) = (case.midway, target.set.migrations.get(case.upto)) {
        for statement in next.up.statements.iter().take(j) {
            if try_statement(sandbox, &statement.sql).await?.is_err() {
                return Ok(Verdict::Impossible);
            }
            applied.push(statement.sql.clone());
        }
    }
    // Hand-made changes and rows: one that the server rejects (a column a
    // crash already dropped, a row a constraint refuses) is left out.
    for statement in case.statements() {
        if try_statement(sandbox, &statement).await?.is_ok() {
            applied.push(statement);
        }
    }
    let failed = target
        .runner
        .apply(client, &target.set.migrations, sandbox.nesting())
        .await?;
    if let Some(error) = failed {
        let finding = crate::checks::failed(Kind::LegacyApplyFailed, &error);
        return Ok(Verdict::Fail(Box::new(Failure { finding, applied })));
    }
    let upgraded = match prepared {
        Some(prepared) => schema::snapshot_prepared(client, prepared).await?,
        None => schema::snapshot(client).await?,
    };
    if upgraded.fingerprint() == target.fingerprint {
        return Ok(Verdict::Pass);
    }
    let mut diff = schema::diff(target.fresh, &upgraded);
    diff.retain(|change| !excused(change, &case.mutations));
    if diff.is_empty() || diff.is_minor() {
        return Ok(Verdict::Pass);
    }
    let finding = Finding {
        diff: Some(diff.render("after a fresh install", "after upgrading from this state")),
        ..Finding::new(
            Kind::DivergesFromFresh,
            format!(
                "upgrading from this state ends with a different schema than a fresh install ({} difference{})",
                diff.changes.len(),
                if diff.changes.len() == 1 { "" } else { "s" }
            ),
        )
    };
    Ok(Verdict::Fail(Box::new(Failure { finding, applied })))
}

/// Runs one statement of the state; inside a sandbox transaction under a
/// savepoint, so that a rejected one leaves nothing.
async fn try_statement(
    sandbox: &Sandbox,
    sql: &str,
) -> Result<Result<(), tokio_postgres::Error>, ObserveError> {
    let client = sandbox.client();
    if sandbox.nesting() == Nesting::TopLevel {
        return Ok(match client.batch_execute(sql).await {
            Err(e) if e.is_closed() => return Err(e.into()),
            result => result,
        });
    }
    client.batch_execute("SAVEPOINT migcheck_state").await?;
    let result = client.batch_execute(sql).await;
    let end = match result {
        Ok(()) => "RELEASE SAVEPOINT migcheck_state",
        Err(_) => "ROLLBACK TO SAVEPOINT migcheck_state",
    };
    client.batch_execute(end).await?;
    Ok(result)
}

/// A difference the state's own changes explain: a set is expected to
/// restore what a database lacks (only rerun-all states lack anything),
/// not to undo what someone added or changed by hand.
fn excused(change: &Change, mutations: &[Mutation]) -> bool {
    let key = change.key();
    let object = |kind: &str, name: &str| key == format!("{kind} public.{name}");
    // Drops are never excused: what a state lacks must come back.
    mutations.iter().any(|mutation| match mutation {
        Mutation::AddColumn { table, column, .. }
        | Mutation::ChangeType { table, column, .. }
        | Mutation::ChangeDefault { table, column, .. }
        | Mutation::ChangeNullability { table, column, .. } => {
            object("column", &format!("{table}.{column}"))
        }
        Mutation::AddIndex { index, .. } | Mutation::ReplaceIndex { index, .. } => {
            object("index", index)
        }
        Mutation::DropTable { .. }
        | Mutation::DropColumn { .. }
        | Mutation::DropIndex { .. }
        | Mutation::DropConstraint { .. } => false,
    })
}
