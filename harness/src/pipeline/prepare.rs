//! Step 1 of the pipeline: everything known before a server runs.

use crate::finding::Check;
use crate::lint::{self, Linted};
use crate::migrations::{MigrationSet, MigrationsError, Script};
use crate::runner::{RunnerMode, VERSION_TABLE};
use crate::sandbox::{self, Choice, SandboxChoice};
use crate::scenario::{LegacyState, Scenario};

/// A scenario ready to observe: everything known before a server runs.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The scenario, with the legacy states lint predicts added.
    pub scenario: Scenario,
    pub set: MigrationSet,
    /// Lint's findings that the scenario does not `ignore`, each with the
    /// index in `scenario.legacy` of the state that would confirm it.
    pub linted: Vec<(Linted, Option<usize>)>,
    pub sandbox: Choice,
    pub checks: Vec<Check>,
}

/// Loads, guards, validates and lints `scenario`, and chooses its
/// sandbox. `checks` decide what is prepared: lint runs for `lint`, and for
/// `converge`, which upgrades from the states lint predicts.
pub fn prepare(
    scenario: &Scenario,
    checks: &[Check],
    choice: SandboxChoice,
) -> Result<Prepared, crate::Error> {
    let in_scenario = |source| crate::Error::Scenario {
        id: scenario.id.clone(),
        source: Box::new(source),
    };
    let set = MigrationSet::load(&scenario.migrations, scenario.format)
        .map_err(|e| in_scenario(e.into()))?;
    // Before anything runs: statements that would act outside migcheck's
    // own databases.
    let scripts = set
        .migrations
        .iter()
        .flat_map(|m| std::iter::once(&m.up).chain(&m.down))
        .chain(scenario.legacy.iter().filter_map(|l| l.sql.as_ref()))
        .chain(scenario.seed.iter().map(|s| &s.sql));
    for script in scripts {
        crate::guard::check(script).map_err(|e| in_scenario(e.into()))?;
    }
    validate_names(scenario, &set).map_err(in_scenario)?;

    // Lint is cheap and static; converge needs its predictions even when
    // its findings are not asked for.
    let mut linted = if checks.contains(&Check::Lint) || checks.contains(&Check::Converge) {
        lint::lint_with_predictions(&set).map_err(|e| in_scenario(e.into()))?
    } else {
        Vec::new()
    };
    // Findings the scenario accepts (`ignore:`) go, with their predictions.
    linted.retain(|l| !scenario.ignore.iter().any(|i| i.matches(&l.finding)));
    // The states lint predicts will fail are upgraded from too, so the
    // converge check covers them even when no scenario wrote them.
    let mut scenario = scenario.clone();
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

    let statements = set
        .migrations
        .iter()
        .flat_map(|m| m.up.statements.iter().map(|s| (m.name.as_str(), s)))
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
        sql.push_str(&format!(
            "DELETE FROM {VERSION_TABLE} WHERE version = {};\n",
            crate::sql::literal(&migration.version)
        ));
    }
    let name = format!(
        "{} without {} (predicted by lint)",
        prediction.table, prediction.column
    );
    let origin = format!("lint's prediction `{name}`");
    Ok(LegacyState {
        name,
        upto: Some(migration.version.clone()),
        sql: Some(Script::parse(std::path::Path::new(&origin), sql)?),
        origin,
        predicted: true,
    })
}
