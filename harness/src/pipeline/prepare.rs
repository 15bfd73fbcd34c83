//! Step 1 of the pipeline: everything known before a server runs.

use crate::finding::Check;
use crate::git::{self, past::Edit};
use crate::lint::{self, Linted};
use crate::migrations::{MigrationSet, MigrationsError, Script};
use crate::runner::RunnerMode;
use crate::sandbox::{self, Choice, SandboxChoice};
use crate::scenario::{Deployed, LegacyState, LocksScope, Scenario, Source};
use crate::version_table::VersionTable;

/// A scenario ready to observe: everything known before a server runs.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The scenario, with the past versions from git and the states lint
    /// predicts added as legacy states.
    pub scenario: Scenario,
    pub set: MigrationSet,
    /// Lint's findings that the scenario does not `ignore`, each with the
    /// index in `scenario.legacy` of the state that would confirm it.
    pub linted: Vec<(Linted, Option<usize>)>,
    pub sandbox: Choice,
    pub checks: Vec<Check>,
    /// The migrations the `locks` check observes (indexes into the set):
    /// see [`under_test`].
    pub under_test: Vec<usize>,
    /// The migrations whose downs the `rollback` check judges: those a
    /// branch adds or changes with `--changed-since` (what a team can roll
    /// back after the deploy), else every one (the history audit).
    pub rolled_back: Vec<usize>,
    /// Migrations edited since a version of the set was deployed (git).
    pub edits: Vec<Edit>,
    /// What was prepared or skipped, for the report (git history).
    pub notes: Vec<String>,
}

/// Loads, guards, validates and lints `scenario`, adds the earlier
/// versions of the set it deploys first (pinned ones, `--changed-since`'s
/// base, past versions from git), and chooses its sandbox. `checks` decide
/// what is prepared: lint runs for `lint`, and for `converge`, which
/// upgrades from the states lint predicts; git is read for `converge` and
/// `expect`.
pub fn prepare(
    scenario: &Scenario,
    checks: &[Check],
    choice: SandboxChoice,
) -> Result<Prepared, crate::Error> {
    let in_scenario = |source| crate::Error::Scenario {
        id: scenario.id.clone(),
        source: Box::new(source),
    };
    // A scenario runs at most its own `checks:`, whatever is asked.
    let checks: Vec<Check> = checks
        .iter()
        .copied()
        .filter(|c| scenario.checks.contains(c))
        .collect();
    let checks = &checks[..];
    let set = MigrationSet::load(&scenario.migrations, scenario.format)
        .map_err(|e| in_scenario(e.into()))?;
    let mut scenario = scenario.clone();
    scenario.follow_format(set.format);
    let (edits, mut notes) = past_versions(&mut scenario, &set, checks).map_err(in_scenario)?;
    // Before anything runs: statements that would act outside migcheck's
    // own databases.
    let written = set
        .migrations
        .iter()
        .flat_map(|m| std::iter::once(&m.up).chain(&m.down))
        .chain(scenario.legacy.iter().filter_map(|l| l.sql.as_ref()))
        .chain(scenario.seed.iter().map(|s| &s.sql));
    for script in written.clone().chain(deployed_ups(&scenario)) {
        crate::guard::check(script).map_err(|e| in_scenario(e.into()))?;
    }
    // What the guard (and lint) could not read, in the files the user
    // wrote; git's past versions of the same files would repeat it.
    notes.extend(written.flat_map(Script::unanalysed));
    validate_names(&scenario, &set).map_err(in_scenario)?;
    // A malformed inline directive stops the run, whichever check reads it.
    if checks.contains(&Check::Locks) {
        for migration in &set.migrations {
            crate::suppress::directives(migration)
                .map_err(|e| in_scenario(lint::LintError::from(e).into()))?;
        }
    }
    let scoped = checks.contains(&Check::Locks) || checks.contains(&Check::Rollback);
    let branch = match (scoped, &scenario.base) {
        (true, Some(rev)) => Some(branch(&set, rev).map_err(in_scenario)?),
        _ => None,
    };
    let under_test = match checks.contains(&Check::Locks) {
        true => under_test(&scenario, &set, branch.as_deref()).map_err(in_scenario)?,
        false => Vec::new(),
    };
    let rolled_back = match (checks.contains(&Check::Rollback), branch) {
        (false, _) => Vec::new(),
        (true, Some(branch)) => branch,
        (true, None) => (0..set.migrations.len()).collect(),
    };

    // Lint is cheap and static; converge needs its predictions even when
    // its findings are not asked for.
    let lint::Lint {
        mut linted,
        notes: lint_notes,
    } = if checks.contains(&Check::Lint) || checks.contains(&Check::Converge) {
        let known = known_states(&scenario, &set);
        let premises = lint::Premises {
            runner: scenario.runner,
            known: &known,
        };
        lint::lint_with_predictions(&set, premises).map_err(|e| in_scenario(e.into()))?
    } else {
        lint::Lint::default()
    };
    if checks.contains(&Check::Lint) {
        notes.extend(lint_notes);
    }
    // Findings the scenario accepts (`ignore:`) go, with their predictions.
    linted.retain(|l| !scenario.ignore.iter().any(|i| i.matches(&l.finding)));
    // The states lint predicts will fail are upgraded from too, so the
    // converge check covers them even when no scenario wrote them.
    let mut keyed = Vec::new();
    for l in linted {
        let state = match (&l.prediction, checks.contains(&Check::Converge)) {
            (Some(prediction), true) => {
                let state = predicted_state(&set, scenario.runner, prediction)
                    .map_err(|e| in_scenario(e.into()))?;
                let index = match scenario.legacy.iter().position(|s| s.name == state.name) {
                    Some(index) => index,
                    None => {
                        scenario.legacy.push(state);
                        scenario.legacy.len() - 1
                    }
                };
                Some(index)
            }
            _ => None,
        };
        keyed.push((l, state));
    }

    let ups = set.migrations.iter().map(|m| &m.up);
    let statements = ups
        .chain(deployed_ups(&scenario))
        .flat_map(|up| {
            up.statements
                .iter()
                .map(move |s| (up.path.to_str().unwrap_or_default(), s))
        })
        .chain(scenario.legacy.iter().flat_map(|l| {
            l.sql
                .iter()
                .flat_map(|script| script.statements.iter().map(|s| (l.origin.as_str(), s)))
        }));
    let sandbox = sandbox::choose(choice, statements).map_err(|e| in_scenario(e.into()))?;
    Ok(Prepared {
        scenario,
        set,
        linted: keyed,
        sandbox,
        checks: checks.to_vec(),
        under_test,
        rolled_back,
        edits,
        notes,
    })
}

/// The earlier versions of the set a scenario deploys first: the
/// directories its legacy states name, read in the set's format; the set
/// at the merge base of `--changed-since`; and, for the checks that
/// upgrade, the versions found in git. Returns the migrations edited since
/// they were deployed, and notes.
fn past_versions(
    scenario: &mut Scenario,
    set: &MigrationSet,
    checks: &[Check],
) -> Result<(Vec<Edit>, Vec<String>), crate::Error> {
    for state in &mut scenario.legacy {
        if let Some(Deployed::Dir(dir)) = &state.deployed {
            let old = MigrationSet::load(dir, set.format)?;
            state.deployed = Some(Deployed::Set(Box::new(old)));
        }
    }
    let upgrades = checks.contains(&Check::Converge) || checks.contains(&Check::Expect);
    if !upgrades {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut states = Vec::new();
    if let Some(rev) = &scenario.base {
        let base =
            git::past::at_merge_base(set, rev).map_err(|e| crate::Error::Changes(e.to_string()))?;
        states.push(git_state(base));
    }
    let past = match scenario.git_history {
        0 => git::past::Past::default(),
        limit => git::past::read(set, limit, scenario.base.as_deref()),
    };
    // The base is one of them, under the name a pull request knows.
    let versions = past.versions.into_iter().filter(|v| {
        !states.iter().any(|s| match &s.deployed {
            Some(Deployed::Set(base)) => git::past::same_ups(base, &v.set),
            _ => false,
        })
    });
    let versions: Vec<_> = versions.collect();
    let mut notes = past.notes;
    if !versions.is_empty() {
        let names: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
        notes.push(format!(
            "git history: {} commit{} of the set read; upgraded from {} past version{} where it was not a prefix of today's: {}",
            past.commits,
            if past.commits == 1 { "" } else { "s" },
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join("; ")
        ));
    }
    states.extend(versions.into_iter().map(git_state));
    // First: a pull request's base is the state every deploy starts from.
    states.retain(|s| !scenario.legacy.iter().any(|w| w.name == s.name));
    states.append(&mut scenario.legacy);
    scenario.legacy = states;
    Ok((past.edits, notes))
}

fn git_state(past: git::past::PastVersion) -> LegacyState {
    LegacyState {
        name: past.name,
        upto: None,
        deployed: Some(Deployed::Set(Box::new(past.set))),
        sql: None,
        origin: format!("git history ({})", past.commit.short()),
        source: Source::Git,
        premise: None,
    }
}

/// The legacy states that show what a database holds before the set runs,
/// for lint: those built by SQL or by an earlier version of the set. A
/// state that is the set up to a version holds what the set itself
/// creates, which lint follows anyway.
pub(super) fn known_states<'a>(
    scenario: &'a Scenario,
    set: &'a MigrationSet,
) -> Vec<lint::Known<'a>> {
    scenario
        .legacy
        .iter()
        .filter(|l| l.source != Source::Predicted)
        .filter_map(|l| {
            let first: &[crate::migrations::Migration] = match (&l.deployed, &l.upto) {
                (Some(Deployed::Set(old)), _) => &old.migrations,
                (Some(Deployed::Dir(_)), _) => return None,
                (None, _) if l.sql.is_none() => return None,
                (None, Some(version)) => &set.migrations[..set.prefix_len(version).ok()?],
                (None, None) => &[],
            };
            Some(lint::Known {
                name: &l.name,
                recorded: first.iter().map(|m| m.version.as_str()).collect(),
                scripts: first.iter().map(|m| &m.up).chain(&l.sql).collect(),
            })
        })
        .collect()
}

/// The up scripts of the earlier versions the scenario deploys.
fn deployed_ups(scenario: &Scenario) -> impl Iterator<Item = &Script> {
    scenario.legacy.iter().flat_map(|l| match &l.deployed {
        Some(Deployed::Set(set)) => set.migrations.iter().map(|m| &m.up).collect(),
        _ => Vec::new(),
    })
}

/// Every version and migration name the scenario uses exists in the set.
fn validate_names(scenario: &Scenario, set: &MigrationSet) -> Result<(), crate::Error> {
    for state in &scenario.legacy {
        if let Some(version) = &state.upto {
            set.prefix_len(version)?;
        }
    }
    for seed in &scenario.seed {
        set.prefix_len(&seed.before)?;
    }
    let exempt = scenario.irreversible.iter().chain(&scenario.not_atomic);
    for o in exempt {
        if !set.migrations.iter().any(|m| m.name == o.migration) {
            return Err(crate::Error::UnknownOptOutMigration {
                name: o.migration.clone(),
                known: set.names(),
            });
        }
    }
    let groups = scenario
        .merge
        .iter()
        .flat_map(|g| g.branch.iter().chain(&g.main));
    for name in groups {
        if !set.migrations.iter().any(|m| &m.name == name) {
            return Err(crate::Error::UnknownBranchMigration {
                name: name.clone(),
                known: set.names(),
            });
        }
    }
    Ok(())
}

/// The migrations under test, which `locks` observes: those the scenario
/// names (`locks:`), every one (`--locks all`), or those a branch adds or
/// changes (`branch`, with `--changed-since`), else the last: what the
/// next deploy runs. A lock taken years ago harms nobody today.
fn under_test(
    scenario: &Scenario,
    set: &MigrationSet,
    branch: Option<&[usize]>,
) -> Result<Vec<usize>, crate::Error> {
    let all = &set.migrations;
    match &scenario.locks {
        LocksScope::All => Ok((0..all.len()).collect()),
        LocksScope::Named(names) => names
            .iter()
            .map(|name| match all.iter().position(|m| &m.name == name) {
                Some(i) => Ok(i),
                None => set.prefix_len(name).map(|k| k - 1).map_err(|_| {
                    crate::Error::UnknownLocksMigration {
                        name: name.clone(),
                        known: set.names(),
                    }
                }),
            })
            .collect(),
        LocksScope::UnderTest => Ok(match branch {
            Some(branch) => branch.to_vec(),
            None => all.len().checked_sub(1).into_iter().collect(),
        }),
    }
}

/// The migrations a branch adds or changes: those not in the set as it is
/// at the merge base with `rev` under the same name and up SQL (indexes
/// into the set).
fn branch(set: &MigrationSet, rev: &str) -> Result<Vec<usize>, crate::Error> {
    let base =
        git::past::at_merge_base(set, rev).map_err(|e| crate::Error::Changes(e.to_string()))?;
    let deployed = |m: &crate::migrations::Migration| {
        base.set
            .migrations
            .iter()
            .any(|b| b.name == m.name && b.up.sql == m.up.sql)
    };
    let all = &set.migrations;
    Ok((0..all.len()).filter(|&i| !deployed(&all[i])).collect())
}

/// The legacy state a lint prediction describes: the set up to the
/// migration that uses the column, then the column dropped (with what
/// depends on it) and, for a tracked runner, that migration unrecorded, so
/// that it runs again on a table that lacks the column.
fn predicted_state(
    set: &MigrationSet,
    runner: RunnerMode,
    prediction: &lint::Prediction,
) -> Result<LegacyState, MigrationsError> {
    let migration = &set.migrations[prediction.migration];
    let mut sql = format!(
        "ALTER TABLE {}.{} DROP COLUMN {} CASCADE;\n",
        crate::sql::ident(&prediction.schema),
        crate::sql::ident(&prediction.table),
        crate::sql::ident(&prediction.column)
    );
    if runner == RunnerMode::Tracked {
        let table = VersionTable::of(set.format);
        sql.push_str(&table.forget_sql(&set.migrations, prediction.migration));
        sql.push_str(";\n");
    }
    let name = format!(
        "{} without {} (predicted by lint)",
        prediction.table, prediction.column
    );
    let origin = format!("lint's prediction `{name}`");
    Ok(LegacyState {
        name,
        upto: Some(migration.version.clone()),
        deployed: None,
        sql: Some(Script::parse(std::path::Path::new(&origin), sql)?),
        premise: prediction.assumed.then(|| {
            format!(
                "that {table}.{column}, NOT NULL with a default, was added after the first version of {table}",
                table = prediction.table,
                column = prediction.column
            )
        }),
        origin,
        source: Source::Predicted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set lint flags: `jobs.chat_id` only may exist at its index.
    const JOBS: &str = "CREATE TABLE IF NOT EXISTS jobs (id int);\nCREATE TABLE IF NOT EXISTS jobs (id int, chat_id int);\nCREATE INDEX IF NOT EXISTS jobs_chat ON jobs (chat_id);\n";

    #[test]
    fn a_scenario_runs_at_most_its_own_checks() {
        let dir = tempfile::Builder::new()
            .prefix("migcheck-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("001_jobs.sql"), JOBS).expect("write");
        let mut scenario = Scenario::ad_hoc(dir.path(), crate::migrations::Format::Auto);
        let all = prepare(&scenario, &Check::ALL, SandboxChoice::Auto).expect("prepares");
        assert_eq!(all.checks, Check::ALL);
        assert!(!all.linted.is_empty(), "lint flags the set");

        scenario.checks = vec![Check::Fresh, Check::Rollback];
        let some = prepare(&scenario, &Check::ALL, SandboxChoice::Auto).expect("prepares");
        assert_eq!(some.checks, [Check::Fresh, Check::Rollback]);
        assert!(some.linted.is_empty(), "neither lint nor converge runs");
        let asked = [Check::Lint, Check::Rollback];
        let both = prepare(&scenario, &asked, SandboxChoice::Auto).expect("prepares");
        assert_eq!(both.checks, [Check::Rollback]);
    }
}
