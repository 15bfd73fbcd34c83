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
    /// What the set renames later, and what evidence a state is.
    pub facts: &'a super::evidence::Facts,
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
    let excused = |change: &Change| excused(change, case, target.facts);
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
/// not to undo what someone added or changed by hand, nor what follows
/// from it: the column under the name a later migration gives it, and
/// the definitions (an index's, a constraint's, a view's) that read a
/// column whose type was changed by hand.
fn excused(change: &Change, case: &LegacyCase, facts: &super::evidence::Facts) -> bool {
    let key = change.key();
    let object = |kind: &str, name: &str| key == format!("{kind} public.{name}");
    // Drops are never excused: what a state lacks must come back.
    case.mutations.iter().any(|mutation| match mutation {
        Mutation::AddColumn { table, column, .. }
        | Mutation::ChangeDefault { table, column, .. }
        | Mutation::ChangeNullability { table, column, .. } => facts
            .names_after(case.upto, table, column)
            .iter()
            .any(|(t, c)| object("column", &format!("{t}.{c}"))),
        Mutation::ChangeType { table, column, .. } => facts
            .names_after(case.upto, table, column)
            .iter()
            .any(|(t, c)| object("column", &format!("{t}.{c}")) || reads(change, t, c)),
        Mutation::AddIndex { index, .. } | Mutation::ReplaceIndex { index, .. } => {
            object("index", index)
        }
        Mutation::DropTable { .. }
        | Mutation::DropColumn { .. }
        | Mutation::DropIndex { .. }
        | Mutation::DropConstraint { .. } => false,
    })
}

/// Whether `change` is a definition that differs and names both `table`
/// and its `column` (as whole words): a retyped column shows in the
/// casts Postgres prints into the definitions that read it.
fn reads(change: &Change, table: &str, column: &str) -> bool {
    let Change::Differs {
        key, left, right, ..
    } = change
    else {
        return false;
    };
    let names = |text: &str, name: &str| {
        text.match_indices(name).any(|(at, _)| {
            let ident = |c: char| c.is_alphanumeric() || c == '_';
            let before = text[..at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            !before.is_some_and(ident) && !after.is_some_and(ident)
        })
    };
    let mentions = |text: &Option<String>| {
        text.as_deref()
            .is_some_and(|t| (names(key, table) || names(t, table)) && names(t, column))
    };
    !key.starts_with("column ") && (mentions(left) || mentions(right))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::{Format, MigrationSet};

    fn check(set: &[(&str, &str)], upto: usize, mutation: Mutation, change: Change) -> bool {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, sql) in set {
            std::fs::write(dir.path().join(name), sql).expect("write");
        }
        let set = MigrationSet::load(dir.path(), Format::Plain).expect("set");
        let facts = super::super::evidence::Facts::read(&set);
        let case = LegacyCase {
            upto,
            midway: None,
            mutations: vec![mutation],
            rows: Vec::new(),
        };
        excused(&change, &case, &facts)
    }

    fn differs(key: &str, left: &str, right: &str) -> Change {
        Change::Differs {
            key: key.into(),
            attr: "definition".into(),
            left: Some(left.into()),
            right: Some(right.into()),
        }
    }

    const SET: &[(&str, &str)] = &[
        (
            "001_t.sql",
            "CREATE TABLE t (id int PRIMARY KEY, name varchar(20));",
        ),
        ("002_i.sql", "CREATE INDEX t_lower ON t (lower(name));"),
        ("003_r.sql", "ALTER TABLE t RENAME COLUMN name TO title;"),
    ];

    fn retype() -> Mutation {
        Mutation::ChangeType {
            table: "t".into(),
            column: "name".into(),
            ty: "text".into(),
        }
    }

    #[test]
    fn a_retyped_column_is_excused_under_its_later_name() {
        let change = differs("column public.t.title", "character varying(20)", "text");
        assert!(check(SET, 1, retype(), change.clone()));
        let dropped = Mutation::DropColumn {
            table: "t".into(),
            column: "name".into(),
        };
        assert!(
            !check(SET, 1, dropped, change),
            "what a state lacks must come back"
        );
    }

    #[test]
    fn definitions_that_read_a_retyped_column_are_excused() {
        let index = differs(
            "index public.t_lower",
            "CREATE INDEX t_lower ON public.t USING btree (lower((title)::text))",
            "CREATE INDEX t_lower ON public.t USING btree (lower(title))",
        );
        assert!(check(SET, 1, retype(), index));
        let other = differs(
            "index public.t_id",
            "CREATE INDEX t_id ON public.t USING btree (id)",
            "CREATE UNIQUE INDEX t_id ON public.t USING btree (id)",
        );
        assert!(
            !check(SET, 1, retype(), other),
            "an index on another column"
        );
    }
}
