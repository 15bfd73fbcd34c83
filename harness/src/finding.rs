//! Findings: what a check reports when migrations break a rule.
//!
//! A finding is data, never an `Err`: `Err` means migcheck could not do its
//! job, a finding means the migrations did something wrong. The field names
//! and the kebab-case kinds are part of the JSON contract in `product.md`.

use serde::{Deserialize, Serialize};

/// The bug classes of `product.md`. Only the kinds some check can produce
/// are listed; a scenario naming another kind is rejected when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    ApplyFailed,
    RerunFailed,
    RerunChanged,
    LegacyApplyFailed,
    DivergesFromFresh,
    MissingExpected,
    /// Static: an index, constraint, view... uses a column that only may exist.
    IndexBeforeColumn,
    /// Static: a statement that errors when executed twice.
    NonIdempotentStatement,
    /// Static: a statement that cannot run in a transaction block, in a
    /// migration that runs in one.
    TxIncompatible,
    /// A branch's migrations applied before the ones merged meanwhile fail,
    /// or end with another schema than the set in version order.
    MergeOrderDependent,
    /// A migration's down script errors.
    DownFailed,
    /// Up then down does not give back the schema from before up.
    DownNotInverse,
    /// Up after its own down errors (or ends elsewhere than the first up).
    ReupFailed,
    /// Rows that existed before a migration are gone or changed after up,
    /// or after up then down.
    DataLost,
    /// An interrupted migration left part of itself, or the set does not
    /// converge when run again after the interruption.
    PartialApply,
    /// An INVALID index or NOT VALID constraint at the end of a path.
    InvalidLeftover,
    /// A scenario pinned a finding that did not happen (regression suites).
    ExpectedNotFound,
    /// A statement ran longer than `statement_timeout` or waited longer
    /// than `lock_timeout`; migcheck cancelled it and went on.
    Timeout,
    /// A statement rewrote a table (or an index) that holds data: bench,
    /// over the size threshold; `locks`, any table that existed before.
    TableRewrite,
    /// Bench: a statement held ACCESS EXCLUSIVE longer than the budget;
    /// `locks`: ACCESS EXCLUSIVE on an existing table stayed held while a
    /// later statement of the transaction read or wrote rows.
    LongExclusiveLock,
    /// `locks`: `CREATE INDEX` without `CONCURRENTLY` on an existing table.
    BlockingIndexBuild,
    /// `locks`: a new UNIQUE, PRIMARY KEY or EXCLUDE constraint built its
    /// index under the table's lock.
    BlockingConstraintIndex,
    /// `locks`: a constraint or NOT NULL was validated (the table was
    /// scanned) under a lock that blocks writes.
    BlockingValidation,
    /// `locks`: a lock that blocks reads or writes of an existing table,
    /// taken before the migration set its own `lock_timeout`.
    MissingLockTimeout,
    /// `locks`: a new foreign key whose referencing columns no index leads
    /// with.
    UnindexedForeignKey,
    /// A migration's up script differs from what was deployed before
    /// (git history).
    EditedAfterRelease,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ApplyFailed => "apply-failed",
            Kind::RerunFailed => "rerun-failed",
            Kind::RerunChanged => "rerun-changed",
            Kind::LegacyApplyFailed => "legacy-apply-failed",
            Kind::DivergesFromFresh => "diverges-from-fresh",
            Kind::MissingExpected => "missing-expected",
            Kind::IndexBeforeColumn => "index-before-column",
            Kind::NonIdempotentStatement => "non-idempotent-statement",
            Kind::TxIncompatible => "tx-incompatible",
            Kind::MergeOrderDependent => "merge-order-dependent",
            Kind::DownFailed => "down-failed",
            Kind::DownNotInverse => "down-not-inverse",
            Kind::ReupFailed => "reup-failed",
            Kind::DataLost => "data-lost",
            Kind::PartialApply => "partial-apply",
            Kind::InvalidLeftover => "invalid-leftover",
            Kind::ExpectedNotFound => "expected-not-found",
            Kind::Timeout => "timeout",
            Kind::TableRewrite => "table-rewrite",
            Kind::LongExclusiveLock => "long-exclusive-lock",
            Kind::BlockingIndexBuild => "blocking-index-build",
            Kind::BlockingConstraintIndex => "blocking-constraint-index",
            Kind::BlockingValidation => "blocking-validation",
            Kind::MissingLockTimeout => "missing-lock-timeout",
            Kind::UnindexedForeignKey => "unindexed-foreign-key",
            Kind::EditedAfterRelease => "edited-after-release",
        }
    }

    /// The check that produces this kind; `None` for kinds made by
    /// `verify` or `bench`.
    pub fn check(self) -> Option<Check> {
        match self {
            Kind::ApplyFailed => Some(Check::Fresh),
            Kind::RerunFailed | Kind::RerunChanged => Some(Check::Rerun),
            Kind::LegacyApplyFailed | Kind::DivergesFromFresh | Kind::EditedAfterRelease => {
                Some(Check::Converge)
            }
            Kind::MissingExpected => Some(Check::Expect),
            Kind::IndexBeforeColumn | Kind::NonIdempotentStatement | Kind::TxIncompatible => {
                Some(Check::Lint)
            }
            Kind::MergeOrderDependent => Some(Check::Merge),
            Kind::DownFailed | Kind::DownNotInverse | Kind::ReupFailed | Kind::DataLost => {
                Some(Check::Rollback)
            }
            Kind::PartialApply | Kind::InvalidLeftover => Some(Check::Faults),
            // `bench` makes the first two too, and sets no check on them.
            Kind::TableRewrite
            | Kind::LongExclusiveLock
            | Kind::BlockingIndexBuild
            | Kind::BlockingConstraintIndex
            | Kind::BlockingValidation
            | Kind::MissingLockTimeout
            | Kind::UnindexedForeignKey => Some(Check::Locks),
            // Made by `verify` itself; a timeout keeps the check it
            // happened in.
            Kind::ExpectedNotFound | Kind::Timeout => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The checks of `migcheck check --checks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Fresh,
    Rerun,
    /// Each migration's body run again right after itself, bypassing a
    /// tracked runner's version table (opt-in: warnings).
    RerunBodies,
    Converge,
    Expect,
    /// Static analysis, without a server.
    Lint,
    /// A branch's migrations in both merge orders.
    Merge,
    /// Each migration's up, down and up again, with rows seeded before it.
    Rollback,
    /// A fault injected at every statement boundary of every migration.
    Faults,
    /// What the migrations under test lock, rewrite and validate on the
    /// tables that existed before them.
    Locks,
}

impl Check {
    /// Every check (`merge` does nothing unless a scenario names the
    /// groups of a merge).
    /// Checks run only when named in `--checks`.
    pub const OPT_IN: [Check; 1] = [Check::RerunBodies];

    /// Every check this build has, opt-in ones included.
    pub fn known() -> Vec<Check> {
        Check::ALL.into_iter().chain(Check::OPT_IN).collect()
    }

    pub const ALL: [Check; 9] = [
        Check::Fresh,
        Check::Rerun,
        Check::Converge,
        Check::Expect,
        Check::Merge,
        Check::Lint,
        Check::Rollback,
        Check::Faults,
        Check::Locks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Fresh => "fresh",
            Check::Rerun => "rerun",
            Check::RerunBodies => "rerun-bodies",
            Check::Converge => "converge",
            Check::Expect => "expect",
            Check::Lint => "lint",
            Check::Merge => "merge",
            Check::Rollback => "rollback",
            Check::Faults => "faults",
            Check::Locks => "locks",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Check {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Check::known()
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let names =
                    |checks: &[Check]| checks.iter().map(|c| c.as_str()).collect::<Vec<_>>();
                let all = names(&Check::ALL);
                let (last, rest) = all.split_last().expect("checks exist");
                format!(
                    "unknown check `{s}`: this build has {} and {last}, and {} on request",
                    rest.join(", "),
                    names(&Check::OPT_IN).join(", ")
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One broken rule, with everything a person needs to find the cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    pub scenario: String,
    pub check: Option<Check>,
    pub legacy_state: Option<String>,
    pub postgres: String,
    pub migration: Option<String>,
    /// 1-based index of the statement inside its migration.
    pub statement: Option<usize>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub sqlstate: Option<String>,
    pub message: String,
    /// The rendered schema difference, for divergence findings.
    pub diff: Option<String>,
    /// True when the scenario's `expect_findings` pins this finding: it is
    /// reported, but does not fail the run. (An extension of the contract.)
    pub expected: bool,
}

impl Finding {
    /// A finding with only its kind, check and message set; checks fill in
    /// the rest with struct update syntax.
    pub fn new(kind: Kind, message: impl Into<String>) -> Finding {
        Finding {
            kind,
            severity: Severity::Error,
            scenario: String::new(),
            check: kind.check(),
            legacy_state: None,
            postgres: String::new(),
            migration: None,
            statement: None,
            line: None,
            column: None,
            sqlstate: None,
            message: message.into(),
            diff: None,
            expected: false,
        }
    }

    /// Counts toward exit code 1.
    pub fn fails_run(&self) -> bool {
        self.severity == Severity::Error && !self.expected
    }
}

#[cfg(test)]
mod tests {
    use super::Check;

    #[test]
    fn an_unknown_check_lists_every_known_one() {
        let error = "bogus".parse::<Check>().expect_err("not a check");
        for check in Check::known() {
            assert!(error.contains(check.as_str()), "{check:?}: {error}");
        }
        assert_eq!("locks".parse::<Check>(), Ok(Check::Locks));
    }
}
