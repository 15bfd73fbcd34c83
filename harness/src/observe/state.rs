//! The schema and rows of a sandbox that runs one step after another (the
//! rollback chain), read whole once, then after each step again only
//! where the step touched them: the relations its DDL touched (the event
//! triggers of [`crate::touched`]) and the tables whose rows it wrote (the
//! transaction's own row counts, [`Writes`]). Reading everything after
//! every step made a set's cost grow with the square of its length.
//!
//! Where the sandbox cannot tell, everything is read: no triggers to rely
//! on (an existing server, `--superuser`), no row counts outside
//! one transaction (a sandbox that does not rewind), a `TRUNCATE` (which
//! resets the counts), or a trigger that failed.
//!
//! `MIGCHECK_VERIFY_TRACKING=1` reads everything after each step as well,
//! and fails the run where the two differ: what the tests and the corpus
//! run under to show that reading less misses nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::outcome::ObserveError;
use crate::data::{IndexedRows, TableRows, Writes};
use crate::sandbox::Sandbox;
use crate::schema::{Indexed, Snapshot};

#[derive(Debug, Clone)]
pub(super) struct State {
    schema: Indexed,
    rows: IndexedRows,
    /// The row counts when the rows were read, where they tell writes.
    writes: Option<Writes>,
    /// Whether this state was read in part, from the one before it.
    partial: bool,
}

/// Whether `MIGCHECK_VERIFY_TRACKING` asks for every read to be checked.
fn verifying() -> bool {
    std::env::var_os("MIGCHECK_VERIFY_TRACKING").is_some_and(|v| v == "1")
}

/// The row counts now, where they tell which tables a step wrote: in a
/// sandbox whose DDL is tracked and that stays in one transaction (it
/// rewinds); a commit starts the counts again.
async fn counts(sandbox: &Sandbox) -> Result<Option<Writes>, ObserveError> {
    match sandbox.tracks_ddl() && sandbox.rewinds() {
        true => Ok(Some(Writes::read(sandbox.client()).await?)),
        false => Ok(None),
    }
}

impl State {
    /// Everything `sandbox` holds, from which [`State::refresh`] goes on.
    pub async fn read(sandbox: &Sandbox) -> Result<State, ObserveError> {
        let client = sandbox.client();
        if sandbox.tracks_ddl() {
            crate::touched::start(client).await?;
        }
        Ok(State {
            writes: counts(sandbox).await?,
            schema: Indexed::read(client, sandbox.prepared()).await?,
            rows: IndexedRows::read(client).await?,
            partial: false,
        })
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.schema.snapshot
    }

    pub fn rows(&self) -> &TableRows {
        &self.rows.rows
    }

    /// Whether [`State::refresh`] read only what the step touched.
    pub fn partial(&self) -> bool {
        self.partial
    }

    /// What `sandbox` holds now, this being what it held before the
    /// statements since; `truncated` when they may have run `TRUNCATE`.
    pub async fn refresh(&self, sandbox: &Sandbox, truncated: bool) -> Result<State, ObserveError> {
        if !sandbox.tracks_ddl() {
            return State::read(sandbox).await;
        }
        let client = sandbox.client();
        let touched = crate::touched::take(client).await?;
        if touched.everything {
            return State::read(sandbox).await;
        }
        let units = touched.units(&self.schema);
        let schema = self
            .schema
            .refresh(client, sandbox.prepared(), &units, touched.others)
            .await?;
        let (rows, writes) = match (&self.writes, truncated) {
            (Some(before), false) => {
                let now = Writes::read(client).await?;
                let mut changed: BTreeSet<u32> = before.changed(&now);
                changed.extend(units.iter().copied());
                (self.rows.refresh(client, &changed).await?, Some(now))
            }
            _ => (IndexedRows::read(client).await?, counts(sandbox).await?),
        };
        let state = State {
            schema,
            rows,
            writes,
            partial: true,
        };
        if verifying() {
            state.verify(sandbox).await?;
        }
        Ok(state)
    }

    /// This state, after the sandbox rewound to it: what the statements
    /// since recorded went with them, but the row counts keep counting.
    pub async fn rewound(&self, sandbox: &Sandbox) -> Result<State, ObserveError> {
        let mut state = self.clone();
        state.writes = counts(sandbox).await?;
        Ok(state)
    }

    /// Fails when reading everything gives another schema or other rows.
    async fn verify(&self, sandbox: &Sandbox) -> Result<(), ObserveError> {
        let client = sandbox.client();
        let schema = crate::schema::snapshot(client).await?;
        let rows = TableRows::read(client).await?;
        let mut wrong = Vec::new();
        if schema != **self.snapshot() {
            let diff = crate::schema::diff_all(&schema, self.snapshot());
            wrong.push(format!(
                "the schema read by parts differs from the whole:\n{}",
                diff.render("whole", "by parts")
            ));
        }
        if rows != *self.rows() {
            let tables: Vec<&String> = rows
                .tables
                .keys()
                .chain(self.rows().tables.keys())
                .filter(|t| rows.tables.get(*t) != self.rows().tables.get(*t))
                .collect();
            wrong.push(format!(
                "the rows read by parts differ from the whole in {tables:?}"
            ));
        }
        match wrong.is_empty() {
            true => Ok(()),
            false => Err(ObserveError::Tracking(wrong.join("\n"))),
        }
    }
}
