//! One fuzz case: a generated legacy state built in a sandbox, the whole
//! set applied on top of it, and the verdict: the set failed there, or
//! ended with a schema other than a fresh install's, beyond what the
//! state's own hand-made changes explain.

use generators::legacy::{LegacyCase, Mutation};

use crate::checks::converge;
use crate::finding::{Finding, Severity};
use crate::migrations::MigrationSet;
use crate::observe::ObserveError;
use crate::runner::Runner;
use crate::sandbox::{Sandbox, SandboxError, Sandboxes};
use crate::schema::{Change, Snapshot};

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

/// One worker's sandboxes. A case forks the set applied up to its version
/// (`Sandboxes::fork_at`): in a transaction sandbox a rollback to that
/// version's savepoint in a transaction the worker keeps open, so the
/// prefix costs a rollback, not k migrations; else a clone of a database
/// kept per version.
pub struct Worker<'s> {
    sandboxes: Sandboxes<'s>,
}

impl<'s> Worker<'s> {
    pub fn new(sandboxes: Sandboxes<'s>) -> Worker<'s> {
        Worker { sandboxes }
    }

    /// The sandbox databases this worker created go.
    pub async fn shutdown(self) -> Result<(), SandboxError> {
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
        let prefix = &target.set.migrations[..case.upto];
        let sandbox = match self.sandboxes.fork_at(target.runner, prefix).await? {
            Ok(sandbox) => sandbox,
            Err(_) => return Ok(Verdict::Impossible),
        };
        let verdict = build_and_apply(&sandbox, target, case).await;
        self.sandboxes.close(sandbox).await?;
        verdict
    }

    /// A past version of the set deployed, and the set applied on top,
    /// judged like a case: the error finding, if any. `None` too when the
    /// past version no longer applies.
    pub async fn run_deployed(
        &mut self,
        target: &Target<'_>,
        past: &MigrationSet,
    ) -> Result<Option<Finding>, ObserveError> {
        let Ok(sandbox) = self
            .sandboxes
            .fork_at(target.runner, &past.migrations)
            .await?
        else {
            return Ok(None);
        };
        let judged = upgrade(&sandbox, target, |_| false).await;
        self.sandboxes.close(sandbox).await?;
        judged
    }
}

async fn build_and_apply(
    sandbox: &Sandbox,
    target: &Target<'_>,
    case: &LegacyCase,
) -> Result<Verdict, ObserveError> {
    // A runner that died after `j` statements of the next migration left
    // them committed: they run one by one, as such a runner sends them.
    let mut applied = Vec::new();
    if let (Some(j), Some(next)) = (case.midway, target.set.migrations.get(case.upto)) {
        for statement in next.up.statements.iter().take(j) {
            if sandbox.attempt(&statement.sql).await?.is_err() {
                return Ok(Verdict::Impossible);
            }
            applied.push(statement.sql.clone());
        }
    }
    // Hand-made changes and rows: one that the server rejects (a column a
    // crash already dropped, a row a constraint refuses) is left out.
    for statement in case.statements() {
        if sandbox.attempt(&statement).await?.is_ok() {
            applied.push(statement);
        }
    }
    // What a state lacks must come back; what it added or changed by hand
    // an upgrade keeps.
    let excused = |change: &Change| excused(change, &case.mutations);
    Ok(match upgrade(sandbox, target, excused).await? {
        Some(finding) => Verdict::Fail(Box::new(Failure { finding, applied })),
        None => Verdict::Pass,
    })
}

/// The set applied on top of what `sandbox` holds, judged like the
/// converge check judges an upgrade (apart from what `excused` explains):
/// the error finding, if any.
async fn upgrade(
    sandbox: &Sandbox,
    target: &Target<'_>,
    excused: impl Fn(&Change) -> bool,
) -> Result<Option<Finding>, ObserveError> {
    let failed = sandbox.apply(target.runner, &target.set.migrations).await?;
    let snapshot;
    let upgraded = match &failed {
        Some(error) => Err(error),
        None => {
            snapshot = sandbox.snapshot().await?;
            if snapshot.fingerprint() == target.fingerprint {
                return Ok(None);
            }
            Ok(&snapshot)
        }
    };
    let finding = converge::upgrade(target.fresh, "this state", upgraded, excused);
    Ok(finding.filter(|f| f.severity == Severity::Error))
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
