//! Step 3 of the pipeline, pure. From what `prepare` found
//! and `observe` saw to a scenario's result: the checks' findings, lint's
//! findings with the verdict of the state each predicts, statements the
//! server cancelled as `timeout`s, findings settled against what the
//! scenario pins, and the notes of what the checks did. Every finding is
//! made here or in `checks/`.

use super::prepare::Prepared;
use crate::checks;
use crate::finding::{Check, Finding, Kind, Severity};
use crate::lint::{Linted, Prediction};
use crate::migrations::MigrationSet;
use crate::observe::Observation;
use crate::observe::faults::Interruption;
use crate::observe::rollback::Down;
use crate::report::{NotRun, OptOutNote, ScenarioResult};
use crate::runner::ApplyError;
use crate::sandbox::Timeouts;
use crate::scenario::{ExpectedFinding, Scenario, Source};

/// The result of `prepared` as `observation` shows it, on a server of
/// version `postgres`.
pub fn judge(
    prepared: &Prepared,
    observation: &Observation,
    timeouts: Timeouts,
    postgres: &str,
) -> ScenarioResult {
    let (scenario, checks) = (&prepared.scenario, &prepared.checks);
    let linted = prepared.linted.iter().map(|(linted, state)| {
        let mut finding = linted.finding.clone();
        if let (Some(prediction), Some(state)) = (&linted.prediction, state) {
            let verdict = Verdict::of(*state, observation, linted);
            finding.message.push_str(&format!(
                "; {}",
                verdict.describe(prediction, &prepared.set)
            ));
            // A finding that rests on lint's assumption is an error once a
            // state that exists fails where it predicts.
            if prediction.assumed
                && let Verdict::Confirmed(error) = verdict
                && let Some(witness) = witness(error, scenario, observation)
            {
                finding.severity = Severity::Error;
                finding
                    .message
                    .push_str(&format!("; legacy state \"{witness}\" fails there too"));
            }
        }
        finding
    });
    let lint_findings: Vec<Finding> = match checks.contains(&Check::Lint) {
        true => linted.collect(),
        false => Vec::new(),
    };
    let edited = match checks.contains(&Check::Converge) {
        true => checks::edited::findings(&prepared.edits, &prepared.set, scenario.runner),
        false => Vec::new(),
    };
    let mut findings: Vec<Finding> = checks
        .iter()
        .flat_map(|check| checks::run(*check, observation, scenario))
        .chain(edited)
        .chain(lint_findings)
        .collect();
    drop_unrelated(&mut findings, prepared, observation);
    let suppressed = suppress_locks(&mut findings, prepared);
    mark_timeouts(&mut findings, timeouts);
    if !prepared.scenario.superuser {
        explain_privileges(&mut findings);
    }
    let not_run = not_run(prepared, observation, &findings);
    let ran: Vec<Check> = checks
        .iter()
        .copied()
        .filter(|c| !not_run.iter().any(|n| n.check == *c))
        .collect();
    settle(&mut findings, &scenario.expect_findings, &ran);
    for finding in &mut findings {
        finding.scenario = scenario.id.clone();
        finding.postgres = postgres.to_string();
    }
    ScenarioResult {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        set: Some(crate::report::SetSummary::of(&prepared.set)),
        postgres: postgres.to_string(),
        sandbox: Some(prepared.sandbox.strategy),
        sandbox_reason: prepared.sandbox.reason.clone(),
        runner: Some(scenario.runner_reason()),
        checks: checks.clone(),
        not_run,
        cases: observation.cases,
        findings,
        notes: scope_notes(prepared, observation)
            .into_iter()
            .chain(notes(observation))
            .chain(prepared.notes.iter().cloned())
            .chain(observation.skipped.iter().cloned())
            .collect(),
        opt_outs: opt_outs(scenario).into_iter().chain(suppressed).collect(),
        migrations: Some(scenario.migrations.clone()),
        kept: None,
    }
}

/// The checks asked for that could not run, and why: a check that did not
/// run has no findings, and must not read as passed.
fn not_run(prepared: &Prepared, observation: &Observation, findings: &[Finding]) -> Vec<NotRun> {
    let scenario = &prepared.scenario;
    let fresh_fails = !observation.fresh.errors.is_empty();
    prepared
        .checks
        .iter()
        // What found something ran (git's edits are converge's, and need
        // no server).
        .filter(|&&check| !findings.iter().any(|f| f.check == Some(check)))
        .filter_map(|&check| {
            let reason = match check {
                // Both run whatever happens.
                Check::Fresh | Check::Lint => return None,
                _ if fresh_fails => "the fresh install fails",
                Check::Expect if scenario.expect.is_empty() => {
                    "nothing is expected; give --expect or the scenario's expect:"
                }
                Check::Merge if observation.merge.is_none() => match scenario.merge {
                    None => "no merge to check; give --changed-since or the scenario's merge:",
                    Some(_) => "the branch adds no migration",
                },
                _ => return None,
            };
            Some(NotRun {
                check,
                reason: reason.to_string(),
            })
        })
        .collect()
}

/// Whether the set failed from the state a lint finding predicts, because
/// of the column it predicts missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'o> {
    /// The set failed there, at this statement, for want of the column.
    Confirmed(&'o ApplyError),
    /// The set failed there for another reason: the state is built by
    /// running migrations again, which may fail on their own (a relation
    /// that a later migration renamed, say). Not evidence of the finding.
    Unrelated(&'o ApplyError),
    /// The set applied there.
    NotReproduced,
    /// The state could not be built (the column is part of a key).
    NotBuilt,
}

impl<'o> Verdict<'o> {
    /// The verdict of the legacy state at `index` of the scenario, which
    /// `linted` predicts fails.
    pub fn of(index: usize, observation: &'o Observation, linted: &Linted) -> Verdict<'o> {
        let outcome = observation.legacy.iter().find(|l| l.index == Some(index));
        match outcome.map(|l| l.outcome.errors.first()) {
            Some(Some(error)) if about_column(error, linted) => Verdict::Confirmed(error),
            Some(Some(error)) => Verdict::Unrelated(error),
            Some(None) => Verdict::NotReproduced,
            None => Verdict::NotBuilt,
        }
    }

    fn describe(&self, prediction: &Prediction, set: &MigrationSet) -> String {
        let (table, column) = (&prediction.table, &prediction.column);
        match self {
            Verdict::Confirmed(error) => format!(
                "{}: from a database where {table} lacks {column}, {}:{} fails: {} (SQLSTATE {})",
                // Reproduced from an assumed state is not yet evidence.
                if prediction.assumed {
                    "reproduced"
                } else {
                    "confirmed"
                },
                error.migration,
                error.line,
                error.message,
                error.sqlstate.as_deref().unwrap_or("-")
            ),
            Verdict::Unrelated(error) => format!(
                "not reproduced: from a database where {table} lacks {column}, {}:{} fails first for another reason: {} (SQLSTATE {})",
                error.migration,
                error.line,
                error.message,
                error.sqlstate.as_deref().unwrap_or("-")
            ),
            Verdict::NotReproduced => format!(
                "not reproduced: the set applies from a database where {table} lacks {column}"
            ),
            Verdict::NotBuilt => format!(
                "not reproduced: a database where {table} lacks {column} could not be built from {}",
                set.migrations[prediction.migration].name
            ),
        }
    }
}

/// Whether `error` is the failure `linted` predicts: it names the
/// predicted column, as an undefined column (SQLSTATE 42703) or at the
/// very statement lint points at. Anything else failed for a reason of its
/// own.
fn about_column(error: &ApplyError, linted: &Linted) -> bool {
    let Some(prediction) = &linted.prediction else {
        return false;
    };
    let column = &prediction.column;
    // `column "c" ...`, `column t.c does not exist`, `record "new" has no
    // field "c"`.
    let names = error.message.contains(&format!("\"{column}\""))
        || error.message.contains(&format!(".{column} does not exist"));
    let flagged = linted.finding.migration.as_ref() == Some(&error.migration)
        && linted.finding.statement == Some(error.statement);
    names && (error.sqlstate.as_deref() == Some("42703") || flagged)
}

/// Drops what `converge` found from a state lint predicted when that state
/// failed for another reason than the column it lacks ([`Verdict::Unrelated`]
/// for every finding it predicts): a failure of how the state was built,
/// not of the set. The lint finding says what happened.
fn drop_unrelated(findings: &mut Vec<Finding>, prepared: &Prepared, observation: &Observation) {
    let unrelated: Vec<&str> = prepared
        .scenario
        .legacy
        .iter()
        .enumerate()
        .filter(|(_, state)| state.source == Source::Predicted)
        .filter(|(index, _)| {
            let mut verdicts = prepared
                .linted
                .iter()
                .filter(|(_, state)| *state == Some(*index))
                .map(|(linted, _)| Verdict::of(*index, observation, linted))
                .peekable();
            verdicts.peek().is_some() && verdicts.all(|v| matches!(v, Verdict::Unrelated(_)))
        })
        .map(|(_, state)| state.name.as_str())
        .collect();
    findings.retain(|f| {
        f.check != Some(Check::Converge)
            || f.kind != Kind::LegacyApplyFailed
            || !f
                .legacy_state
                .as_deref()
                .is_some_and(|s| unrelated.contains(&s))
    });
}

/// A legacy state that is not lint's prediction (the scenario's, git's, an
/// earlier version of the set) whose upgrade fails at the statement that
/// `predicted` failed at.
fn witness<'o>(
    predicted: &ApplyError,
    scenario: &Scenario,
    observation: &'o Observation,
) -> Option<&'o str> {
    observation
        .legacy
        .iter()
        .filter(|l| {
            l.index
                .and_then(|i| scenario.legacy.get(i))
                .is_none_or(|s| s.source != Source::Predicted)
        })
        .find(|l| {
            l.outcome.errors.first().is_some_and(|e| {
                e.migration == predicted.migration && e.statement == predicted.statement
            })
        })
        .map(|l| l.state.as_str())
}

/// A statement refused for lack of a privilege says whom the migrations
/// ran as, and how to give them more when production does.
fn explain_privileges(findings: &mut [Finding]) {
    for finding in findings {
        if finding.sqlstate.as_deref() == Some("42501") {
            finding.message.push_str(
                " (the migrations ran as a role that owns the database but is not a superuser, as on managed Postgres; \
                 if your servers run them as a superuser, give --superuser or the scenario's `superuser: true`)",
            );
        }
    }
}

/// A statement the server cancelled for running or waiting too long is a
/// `timeout` finding, whichever check saw it fail (it keeps that check).
fn mark_timeouts(findings: &mut [Finding], timeouts: Timeouts) {
    for finding in findings {
        let limit = match finding.sqlstate.as_deref() {
            Some("57014") if finding.message.contains("statement timeout") => {
                format!(
                    "statement_timeout {} ms; raise it with --statement-timeout",
                    timeouts.statement.as_millis()
                )
            }
            Some("55P03") if finding.message.contains("lock timeout") => {
                format!(
                    "lock_timeout {} ms; raise it with --lock-timeout",
                    timeouts.lock.as_millis()
                )
            }
            _ => continue,
        };
        finding.kind = Kind::Timeout;
        finding.message.push_str(&format!(" ({limit})"));
    }
}

/// Marks the findings a scenario pins as expected, and adds an
/// `expected-not-found` finding for each pinned one (of a check that ran,
/// one of `ran`) that did not happen.
pub(crate) fn settle(findings: &mut Vec<Finding>, expected: &[ExpectedFinding], ran: &[Check]) {
    for finding in findings.iter_mut() {
        finding.expected = expected.iter().any(|e| e.matches(finding));
    }
    for pinned in expected {
        let judged = pinned.kind.check().is_none_or(|c| ran.contains(&c));
        if judged && !findings.iter().any(|f| pinned.matches(f)) {
            let mut at = String::new();
            if let Some(m) = &pinned.migration {
                at = format!(" in {m}");
                if let Some(line) = pinned.line {
                    at.push_str(&format!(":{line}"));
                }
            }
            if let Some(state) = &pinned.legacy_state {
                at.push_str(&format!(" from legacy state \"{state}\""));
            }
            findings.push(Finding {
                check: pinned.kind.check(),
                ..Finding::new(
                    Kind::ExpectedNotFound,
                    format!(
                        "the scenario expects a {} finding{at}, but none happened; if the bug is fixed, move the scenario to ok/ and drop expect_findings",
                        pinned.kind
                    ),
                )
            });
        }
    }
}

/// Which downs rollback judged, when `--changed-since` limited them.
fn scope_notes(prepared: &Prepared, observation: &Observation) -> Vec<String> {
    let (Some(rev), Some(_)) = (&prepared.scenario.base, &observation.rollback) else {
        return Vec::new();
    };
    let names: Vec<String> = prepared
        .rolled_back
        .iter()
        .map(|&i| prepared.set.migrations[i].name.clone())
        .collect();
    vec![match names.is_empty() {
        true => format!(
            "rollback: the branch adds or changes no migration since {rev}, so no down was judged"
        ),
        false => format!(
            "rollback: judged the downs of what the branch adds or changes since {rev}: {}",
            list(&names)
        ),
    }]
}

/// What the locks, rollback and faults checks did, or could not do.
fn notes(observation: &Observation) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(locks) = &observation.locks {
        let observed: Vec<&str> = locks
            .migrations
            .iter()
            .filter(|m| m.legacy.is_none())
            .map(|m| m.migration.as_str())
            .collect();
        if !observed.is_empty() {
            notes.push(format!(
                "locks: observed {} ({} sandbox{}), with rows in every table",
                observed.join(", "),
                locks.cases,
                if locks.cases == 1 { "" } else { "es" }
            ));
        }
        notes.extend(locks.notes.iter().cloned());
    }
    if let Some(rollback) = &observation.rollback {
        let missing: Vec<&str> = rollback
            .steps
            .iter()
            .filter(|s| matches!(s.down, Down::Missing))
            .map(|s| s.migration.as_str())
            .collect();
        let ran = rollback
            .steps
            .iter()
            .filter(|s| matches!(s.down, Down::Ran { .. }))
            .count();
        if !rollback.steps.is_empty() && missing.len() == rollback.steps.len() {
            notes.push(
                "rollback: no downs: the set has no down migrations, so nothing was rolled back (rows were still checked after each up)"
                    .to_string(),
            );
        } else {
            let mut note = format!(
                "rollback: {ran} migration{} rolled back and applied again",
                plural(ran)
            );
            if !missing.is_empty() {
                note.push_str(&format!("; no down for {}", missing.join(", ")));
            }
            notes.push(note);
        }
        if rollback.read_in_part > 0 {
            notes.push(format!(
                "rollback: after {} of {} ups, only the relations the step's DDL touched and the tables it wrote were read again",
                rollback.read_in_part,
                rollback.steps.len()
            ));
        }
        if !rollback.rebuilt.is_empty() {
            notes.push(format!(
                "rollback: went on in a database rebuilt with the set applied up to {}, where a rollback or an up on seeded rows failed (rows seeded before were not carried over)",
                list(&rollback.rebuilt)
            ));
        }
        notes.extend(rollback.notes.iter().map(|n| format!("rollback: {n}")));
        if let Some(why) = &rollback.stopped {
            notes.push(format!("rollback: stopped early: {why}"));
        }
    }
    if let Some(faults) = &observation.faults {
        let count = |how| faults.paths.iter().filter(|p| p.how == how).count();
        let (errors, cancels, kills) = (
            count(Interruption::Error),
            count(Interruption::Cancel),
            count(Interruption::Terminate),
        );
        let mut note = format!(
            "faults: {} injected path{} ({errors} failed statement{}, {cancels} cancelled, {kills} killed connection{}), {} deploy{} after them",
            faults.paths.len(),
            plural(faults.paths.len()),
            plural(errors),
            plural(kills),
            faults.recoveries,
            plural(faults.recoveries)
        );
        if faults.skipped_atomic > 0 {
            note.push_str(&format!(
                "; {} migration{} left alone: under the tracked runner each runs in one transaction (or is one statement), which Postgres makes atomic, and the next deploy applies what a fresh install does",
                faults.skipped_atomic,
                plural(faults.skipped_atomic)
            ));
        }
        if let Some(why) = &faults.recovery_skipped {
            note.push_str(&format!(
                "; no deploy after an interruption was judged: {why}"
            ));
        }
        notes.push(note);
    }
    notes
}

/// Names, at most five of them.
fn list(names: &[String]) -> String {
    match names.len() {
        0..=5 => names.join(", "),
        n => format!("{} and {} more", names[..5].join(", "), n - 5),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The scenario's exemptions, listed whichever checks ran.
fn opt_outs(scenario: &Scenario) -> Vec<OptOutNote> {
    let lists = [
        ("irreversible", Check::Rollback, &scenario.irreversible),
        ("not-atomic", Check::Faults, &scenario.not_atomic),
    ];
    lists
        .into_iter()
        .flat_map(|(kind, check, list)| {
            list.iter().map(move |o| OptOutNote {
                kind,
                check,
                migration: o.migration.clone(),
                reason: o.reason.clone(),
                finding: None,
            })
        })
        .chain(scenario.ignore.iter().map(|i| OptOutNote {
            kind: "ignore",
            check: i.kind.check().unwrap_or(Check::Lint),
            migration: match (&i.migration, i.line) {
                (Some(m), Some(line)) => format!("{m}:{line}"),
                (Some(m), None) => m.clone(),
                (None, _) => "*".to_string(),
            },
            reason: i.reason.clone(),
            finding: Some(i.kind),
        }))
        .collect()
}

/// Drops the `locks` findings the scenario's `ignore:` or a migration's
/// inline `-- migcheck: ignore` accepts; returns the inline ones used,
/// for the report. (Lint's are dropped by lint and `prepare`.)
fn suppress_locks(findings: &mut Vec<Finding>, prepared: &Prepared) -> Vec<OptOutNote> {
    let mut used = Vec::new();
    findings.retain(|finding| {
        if finding.check != Some(Check::Locks) {
            return true;
        }
        if prepared.scenario.ignore.iter().any(|i| i.matches(finding)) {
            return false;
        }
        let Some(directive) = inline_directive(finding, &prepared.set) else {
            return true;
        };
        let note = OptOutNote {
            kind: "ignore",
            check: Check::Locks,
            migration: format!(
                "{}:{}",
                finding.migration.as_deref().unwrap_or_default(),
                directive.line
            ),
            reason: directive.reason,
            finding: Some(finding.kind),
        };
        if !used.contains(&note) {
            used.push(note);
        }
        false
    });
    used
}

/// The inline directive attached to a finding's statement, if any.
fn inline_directive(finding: &Finding, set: &MigrationSet) -> Option<crate::suppress::Directive> {
    let migration = set
        .migrations
        .iter()
        .find(|m| finding.migration.as_ref() == Some(&m.name))?;
    let statement = migration.up.statements.get(finding.statement? - 1)?;
    // Validated in `prepare`: a malformed directive stopped the run there.
    let directives = crate::suppress::directives(migration).ok()?;
    let lines: Vec<&str> = migration.up.sql.lines().collect();
    let last = migration
        .up
        .line_column(statement.offset + statement.sql.len())
        .0;
    crate::suppress::attached(&directives, &lines, finding.kind, statement.line, last).cloned()
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::observe::{LegacyOutcome, Outcome};
    use crate::pipeline::prepare;
    use crate::sandbox::SandboxChoice;
    use crate::schema::Snapshot;

    /// `001_jobs.sql`: a column only a new table gets, and an index on it.
    const JOBS: &str = "CREATE TABLE IF NOT EXISTS jobs (id bigint PRIMARY KEY, chat_id bigint);\nCREATE INDEX IF NOT EXISTS jobs_chat ON jobs (chat_id);\n";

    fn applied() -> Outcome {
        Outcome {
            errors: Vec::new(),
            snapshot: Some(Snapshot::default()),
            data: Some(Default::default()),
        }
    }

    fn failed(message: &str, sqlstate: &str) -> Outcome {
        Outcome {
            errors: vec![ApplyError {
                migration: "001_jobs.sql".into(),
                statement: 2,
                line: 2,
                column: 1,
                sqlstate: Some(sqlstate.into()),
                message: message.into(),
            }],
            snapshot: None,
            data: None,
        }
    }

    /// Judges the `JOBS` set, prepared with `checks` and pinning
    /// `expect_findings` (YAML), from a fresh install with outcome `fresh`
    /// and, for the legacy state lint predicts, `predicted` (`None`: it
    /// could not be built). The only caller of `judge`.
    fn check(
        checks: &[Check],
        expect_findings: &str,
        fresh: Outcome,
        predicted: Option<Outcome>,
        expected: Expect,
    ) {
        let dir = tempfile::Builder::new()
            .prefix("migcheck-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("001_jobs.sql"), JOBS).expect("write");
        let mut scenario = Scenario::ad_hoc(dir.path(), crate::migrations::Format::Auto);
        scenario.expect_findings =
            crate::scenario::from_yaml(dir.path(), expect_findings).expect("pinned findings");
        let prepared = prepare(&scenario, checks, SandboxChoice::Auto).expect("prepares");
        let legacy = prepared
            .linted
            .iter()
            .filter_map(|(_, state)| *state)
            .zip(predicted)
            .map(|(index, outcome)| LegacyOutcome {
                state: prepared.scenario.legacy[index].name.clone(),
                index: Some(index),
                outcome,
            })
            .collect();
        let observation = Observation {
            fresh,
            rerun: None,
            bodies: None,
            legacy,
            merge: None,
            rollback: None,
            faults: None,
            locks: None,
            cases: 1,
            skipped: Vec::new(),
        };
        let result = judge(&prepared, &observation, Timeouts::default(), "15.18");
        let actual: String = result
            .findings
            .iter()
            .map(|f| {
                let state = f.legacy_state.as_deref().unwrap_or("-");
                let expected = if f.expected { " (expected)" } else { "" };
                format!(
                    "{} {:?}{expected} [{state}]: {}\n",
                    f.kind, f.severity, f.message
                )
            })
            .collect();
        expected.assert_eq(&actual);
    }

    const LINT_AND_CONVERGE: &[Check] = &[Check::Lint, Check::Converge];

    #[test]
    fn a_prediction_is_confirmed_by_the_failure_it_predicts() {
        check(
            LINT_AND_CONVERGE,
            "[]",
            applied(),
            Some(failed("column \"chat_id\" does not exist", "42703")),
            expect![[r#"
                legacy-apply-failed Error [jobs without chat_id (predicted by lint)]: column "chat_id" does not exist
                index-before-column Error [-]: column jobs.chat_id is only created conditionally at 001_jobs.sql:1:57 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it; confirmed: from a database where jobs lacks chat_id, 001_jobs.sql:2 fails: column "chat_id" does not exist (SQLSTATE 42703)
            "#]],
        );
    }

    #[test]
    fn a_prediction_that_applies_or_cannot_be_built_is_not_reproduced() {
        check(
            LINT_AND_CONVERGE,
            "[]",
            applied(),
            Some(applied()),
            expect![[r#"
                index-before-column Error [-]: column jobs.chat_id is only created conditionally at 001_jobs.sql:1:57 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it; not reproduced: the set applies from a database where jobs lacks chat_id
            "#]],
        );
        check(
            LINT_AND_CONVERGE,
            "[]",
            applied(),
            None,
            expect![[r#"
                index-before-column Error [-]: column jobs.chat_id is only created conditionally at 001_jobs.sql:1:57 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it; not reproduced: a database where jobs lacks chat_id could not be built from 001_jobs.sql
            "#]],
        );
        // Without converge, nothing was tried: no verdict.
        check(
            &[Check::Lint],
            "[]",
            applied(),
            None,
            expect![[r#"
                index-before-column Error [-]: column jobs.chat_id is only created conditionally at 001_jobs.sql:1:57 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
            "#]],
        );
    }

    #[test]
    fn a_prediction_that_fails_for_another_reason_is_not_reproduced_and_no_error() {
        // Building the state runs migrations again; what fails there for
        // want of something else says nothing of the column.
        check(
            LINT_AND_CONVERGE,
            "[]",
            applied(),
            Some(failed(
                "relation \"replication_execution\" does not exist",
                "42P01",
            )),
            expect![[r#"
                index-before-column Error [-]: column jobs.chat_id is only created conditionally at 001_jobs.sql:1:57 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it; not reproduced: from a database where jobs lacks chat_id, 001_jobs.sql:2 fails first for another reason: relation "replication_execution" does not exist (SQLSTATE 42P01)
            "#]],
        );
        // Another column missing is another reason too.
        check(
            LINT_AND_CONVERGE,
            "[]",
            applied(),
            Some(failed(
                "column \"status\" of relation \"jobs\" does not exist",
                "42703",
            )),
            expect![[r#"
                index-before-column Error [-]: column jobs.chat_id is only created conditionally at 001_jobs.sql:1:57 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it; not reproduced: from a database where jobs lacks chat_id, 001_jobs.sql:2 fails first for another reason: column "status" of relation "jobs" does not exist (SQLSTATE 42703)
            "#]],
        );
        // Named, as an undefined column or at the statement lint points at:
        // what converge found stays.
        check(
            &[Check::Converge],
            "[]",
            applied(),
            Some(failed("column jobs.chat_id does not exist", "42703")),
            expect![[r#"
                legacy-apply-failed Error [jobs without chat_id (predicted by lint)]: column jobs.chat_id does not exist
            "#]],
        );
        check(
            &[Check::Converge],
            "[]",
            applied(),
            Some(failed(
                "column \"chat_id\" cannot be cast automatically to type integer",
                "42804",
            )),
            expect![[r#"
                legacy-apply-failed Error [jobs without chat_id (predicted by lint)]: column "chat_id" cannot be cast automatically to type integer
            "#]],
        );
    }

    #[test]
    fn a_cancelled_statement_is_a_timeout_of_its_check() {
        check(
            &[Check::Fresh],
            "[]",
            failed("canceling statement due to statement timeout", "57014"),
            None,
            expect![[r#"
                timeout Error [-]: canceling statement due to statement timeout (statement_timeout 60000 ms; raise it with --statement-timeout)
            "#]],
        );
        check(
            &[Check::Fresh],
            "[]",
            failed("canceling statement due to lock timeout", "55P03"),
            None,
            expect![[r#"
                timeout Error [-]: canceling statement due to lock timeout (lock_timeout 10000 ms; raise it with --lock-timeout)
            "#]],
        );
    }

    #[test]
    fn pinned_findings_are_expected_and_missing_ones_are_findings() {
        // Pinned and found: expected, so it does not fail the run.
        check(
            &[Check::Fresh],
            "[{kind: apply-failed, migration: 001_jobs.sql, line: 2}]",
            failed("relation \"jobs\" does not exist", "42P01"),
            None,
            expect![[r#"
                apply-failed Error (expected) [-]: relation "jobs" does not exist
            "#]],
        );
        // Pinned, of a check that ran, and not found.
        check(
            &[Check::Fresh],
            "[{kind: apply-failed, migration: 001_jobs.sql, line: 2}]",
            applied(),
            None,
            expect![[r#"
                expected-not-found Error [-]: the scenario expects a apply-failed finding in 001_jobs.sql:2, but none happened; if the bug is fixed, move the scenario to ok/ and drop expect_findings
            "#]],
        );
        // Pinned to a check that did not run: nothing to say.
        check(
            &[Check::Fresh],
            "[{kind: down-failed}]",
            applied(),
            None,
            expect![[""]],
        );
    }
}
