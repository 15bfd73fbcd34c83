//! `rollback`: for each migration, on a database holding rows, down undoes
//! up exactly (`down-not-inverse`, `down-failed`), up applies again after
//! its down (`reup-failed`), and the rows from before survive up, and up
//! then down (`data-lost`).

use crate::data::{self, RowLoss, Scope, TableRows};
use crate::finding::{Check, Finding, Kind, Severity};
use crate::migrations::StatedWrite;
use crate::observe::Observation;
use crate::observe::rollback::{Down, RollbackStep};
use crate::schema::{self, Change, Diff, ObjectKind};

pub(super) fn check(observation: &Observation) -> Vec<Finding> {
    let Some(rollback) = &observation.rollback else {
        return Vec::new();
    };
    check_steps(&rollback.steps)
}

fn check_steps(steps: &[RollbackStep]) -> Vec<Finding> {
    let mut findings = Vec::new();
    // Generated rows stay for the rest of the chain once seeded.
    let mut generated = false;
    for step in steps {
        generated |= !step.seeded.is_empty();
        findings.extend(check_step(step, generated));
    }
    findings
}

fn check_step(step: &RollbackStep, generated: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let after_up = match &step.up {
        Ok(after) => after,
        Err(error) => {
            let seeded = match step.seeded.is_empty() {
                true => String::new(),
                false => format!(" (rows seeded into {})", step.seeded.join(", ")),
            };
            let mut finding = Finding {
                check: Some(Check::Rollback),
                message: format!(
                    "{} fails on a database holding rows{seeded}, though it applies to empty tables: {}",
                    step.migration, error.message
                ),
                ..super::failed(Kind::ApplyFailed, error)
            };
            // With generated rows, the failure is evidence only where any
            // row at all would fail: a column the migration adds NOT NULL
            // without a default. Anything else depends on the values
            // (generated text read as another type, NULLs in a column
            // the application may always fill, keys that do not match).
            if generated && !fails_for_any_row(step, error) {
                let why = match error
                    .sqlstate
                    .as_deref()
                    .is_some_and(crate::observe::seed::rests_on_generated_values)
                {
                    true => "generated text read as another type",
                    false => "generated values",
                };
                finding.severity = Severity::Warning;
                finding.message = format!(
                    "with rows the application may never write ({why}): {}",
                    finding.message
                );
            }
            findings.push(finding);
            return findings;
        }
    };
    let irreversible = matches!(step.down, Down::OptedOut);
    let retyped = retyped(&step.before, &after_up.snapshot);
    let triggered = |table: &str| {
        let (schema, name) = data::unqualify(table);
        let prefix = format!("{schema}.{name}.");
        [&step.before, &after_up.snapshot].iter().any(|snapshot| {
            snapshot
                .objects
                .values()
                .any(|o| o.kind == schema::ObjectKind::Trigger && o.name.starts_with(&prefix))
        })
    };
    if !irreversible {
        let scope_up = |table: &str| scope(table, &step.stated_up, &[], || triggered(table));
        let lost = Lost {
            before: &step.rows_before,
            after: &after_up.rows,
            retyped: &retyped,
            generated,
        };
        findings.extend(lost.findings(&step.migration, "up", scope_up));
    }
    let Down::Ran { name, outcome } = &step.down else {
        return findings;
    };
    let round_trip = match outcome {
        Ok(round_trip) => round_trip,
        Err(error) => {
            findings.push(Finding {
                message: format!("the down of {} fails: {}", step.migration, error.message),
                ..super::failed(Kind::DownFailed, error)
            });
            return findings;
        }
    };
    let after_down = &round_trip.after_down;
    let residue = schema::diff(&step.before, &after_down.snapshot);
    if !residue.is_empty() {
        let finding = Finding {
            migration: Some(name.clone()),
            diff: Some(residue.render("before up", "after up then down")),
            ..Finding::new(
                Kind::DownNotInverse,
                format!(
                    "up then down of {} does not give back the schema from before up: {}",
                    step.migration,
                    explain(&residue)
                ),
            )
        };
        findings.push(super::by_column_order(finding, &residue));
    }
    // Tables up dropped were meant to go; the rest must keep their rows,
    // but for those up or down change by name.
    // Columns up dropped too, when their values went with them: the down
    // can only add them back empty. Values up kept in another column
    // (a copy, then a drop) are the down's to keep.
    let scope_down = |table: &str| match after_up.rows.tables.get(table) {
        Some(kept) => {
            let before = step.rows_before.tables.get(table);
            let dropped: Vec<String> = before
                .map(|rows| rows.columns.iter())
                .into_iter()
                .flatten()
                .filter(|c| !kept.columns.contains(c))
                .filter(|c| before.is_some_and(|rows| !moved(rows, c, kept)))
                .cloned()
                .collect();
            let scope = scope(table, &step.stated_up, &step.stated_down, || {
                triggered(table)
            });
            extend(scope, dropped)
        }
        None => Scope::Skip,
    };
    let lost = Lost {
        before: &step.rows_before,
        after: &after_down.rows,
        retyped: &retyped,
        generated,
    };
    findings.extend(lost.findings(name, "up then down", scope_down));
    match &round_trip.reup {
        Err(error) => {
            let left = leftovers(&residue);
            let hint = match left.is_empty() {
                true => String::new(),
                false => format!(" (its down left {left} behind)"),
            };
            findings.push(Finding {
                message: format!(
                    "{} fails when applied again after its down: {}{hint}",
                    step.migration, error.message
                ),
                ..super::failed(Kind::ReupFailed, error)
            });
        }
        Ok(reapplied) => {
            let diff = schema::diff(&after_up.snapshot, reapplied);
            if !diff.is_empty() {
                let finding = Finding {
                    migration: Some(step.migration.clone()),
                    diff: Some(diff.render("after up", "after up, down and up again")),
                    ..Finding::new(
                        Kind::ReupFailed,
                        format!(
                            "{} applied again after its down ends with a different schema than its first up: {}",
                            step.migration,
                            explain(&diff)
                        ),
                    )
                };
                findings.push(super::by_column_order(finding, &diff));
            }
        }
    }
    findings
}

/// How to compare the rows of `table` (a quoted `schema.table`): not at
/// all when a statement deletes or replaces its rows by name, without the
/// columns an `UPDATE` sets.
/// A trigger on the table rewrites what an `UPDATE` does not name
/// (`updated_at`, a search column): then the whole table is the
/// statement's. `triggered` says whether it has one; asked only for a
/// table a statement names, since it reads the whole schema.
fn scope(
    table: &str,
    up: &[StatedWrite],
    down: &[StatedWrite],
    triggered: impl Fn() -> bool,
) -> Scope {
    let (schema, name) = data::unqualify(table);
    let named: Vec<&StatedWrite> = up
        .iter()
        .chain(down)
        .filter(|w| w.table == name && w.schema.as_deref().is_none_or(|s| s == schema))
        .collect();
    if named.is_empty() {
        return Scope::All;
    }
    if triggered() {
        return Scope::Skip;
    }
    let mut set = Vec::new();
    for write in named {
        match &write.columns {
            None => return Scope::Skip,
            Some(columns) => set.extend(columns.iter().cloned()),
        }
    }
    Scope::Without(set)
}

/// Whether `error` (an up that failed over rows) fails whatever the
/// rows hold: a NOT NULL column the migration adds without a default
/// ("column c of relation t contains null values", c new).
fn fails_for_any_row(step: &RollbackStep, error: &crate::runner::ApplyError) -> bool {
    if error.sqlstate.as_deref() != Some("23502") {
        return false;
    }
    let Some(rest) = error.message.strip_prefix("column \"") else {
        return false;
    };
    let Some((column, rest)) = rest.split_once("\" of relation \"") else {
        return false;
    };
    let table = rest.split('"').next().unwrap_or_default();
    !step.before.objects.values().any(|o| {
        o.kind == schema::ObjectKind::Column
            && o.name.rsplit('.').next() == Some(column)
            && o.name.split('.').nth(1) == Some(table)
    })
}

/// Whether the values of `column` in `before` are, as a whole, those of
/// some column of `after`: up moved them there.
fn moved(before: &data::Rows, column: &str, after: &data::Rows) -> bool {
    fn values(rows: &data::Rows, at: usize) -> Vec<&Option<String>> {
        let mut values: Vec<&Option<String>> = rows.values.iter().map(|r| &r[at]).collect();
        values.sort();
        values
    }
    let Some(at) = before.columns.iter().position(|c| c == column) else {
        return false;
    };
    let wanted = values(before, at);
    wanted.iter().any(|v| v.is_some())
        && (0..after.columns.len()).any(|i| values(after, i) == wanted)
}

/// The columns (`schema.table.column`) whose type differs between two
/// snapshots.
fn retyped(before: &schema::Snapshot, after: &schema::Snapshot) -> Vec<String> {
    before
        .objects
        .values()
        .filter(|o| o.kind == schema::ObjectKind::Column)
        .filter(|o| {
            after
                .get(schema::ObjectKind::Column, &o.name)
                .is_some_and(|a| a.attr("type") != o.attr("type"))
        })
        .map(|o| o.name.clone())
        .collect()
}

/// `scope` without the columns of `table` that were retyped.
fn without(scope: Scope, retyped: &[String], table: &str) -> Scope {
    let (schema, name) = data::unqualify(table);
    let prefix = format!("{schema}.{name}.");
    let columns = retyped
        .iter()
        .filter_map(|c| c.strip_prefix(&prefix))
        .map(str::to_string)
        .collect();
    extend(scope, columns)
}

fn extend(scope: Scope, columns: Vec<String>) -> Scope {
    match scope {
        Scope::Skip => Scope::Skip,
        _ if columns.is_empty() => scope,
        Scope::All => Scope::Without(columns),
        Scope::Without(mut left_out) => {
            left_out.extend(columns);
            Scope::Without(left_out)
        }
    }
}

/// Rows from `before` that `after` lost, judged: a loss only in columns
/// whose type the migration changed, over generated values, rests on those
/// values: whether the application's fit the new type, nothing here says
/// (a warning stating so).
struct Lost<'a> {
    before: &'a TableRows,
    after: &'a TableRows,
    retyped: &'a [String],
    generated: bool,
}

impl Lost<'_> {
    fn findings(
        &self,
        migration: &str,
        after: &str,
        scope: impl Fn(&str) -> Scope,
    ) -> Vec<Finding> {
        let lost = self.before.lost(self.after, &scope);
        // Read once: the tables that still lose rows without the retyped
        // columns.
        let beyond_types: Option<Vec<String>> =
            (self.generated && !self.retyped.is_empty() && !lost.is_empty()).then(|| {
                self.before
                    .lost(self.after, |t| without(scope(t), self.retyped, t))
                    .into_iter()
                    .map(|l| l.table)
                    .collect()
            });
        lost.iter()
            .map(|loss| {
                let mut finding = data_lost(migration, loss, after);
                if beyond_types.as_ref().is_some_and(|t| !t.contains(&loss.table)) {
                    finding.severity = Severity::Warning;
                    finding.message = format!(
                        "with values migcheck generated, changed only in columns whose type the migration changes (if the application's values fit the new type, nothing is lost): {}",
                        finding.message
                    );
                }
                finding
            })
            .collect()
    }
}

fn data_lost(migration: &str, loss: &RowLoss, after: &str) -> Finding {
    let count = match loss.rows_before == loss.rows_after {
        true => format!("{} of {} rows changed", loss.changed, loss.rows_before),
        false => format!(
            "{} of {} rows changed or gone ({} rows before, {} after)",
            loss.changed, loss.rows_before, loss.rows_before, loss.rows_after
        ),
    };
    Finding {
        migration: Some(migration.to_string()),
        ..Finding::new(
            Kind::DataLost,
            format!(
                "{}: {count} after {after}, compared on {}",
                loss.table,
                match loss.columns.is_empty() {
                    true => "row count (no column survived)".to_string(),
                    false => format!("columns {}", loss.columns.join(", ")),
                }
            ),
        )
    }
}

/// What a down left behind or took away, named and explained, for the
/// finding's message (the diff has the details).
fn explain(diff: &Diff) -> String {
    let mut parts: Vec<String> = diff.changes.iter().map(explain_change).collect();
    if parts.len() > 3 {
        let more = parts.len() - 3;
        parts.truncate(3);
        parts.push(format!(
            "and {more} more difference{}",
            if more == 1 { "" } else { "s" }
        ));
    }
    parts.join("; ")
}

fn explain_change(change: &Change) -> String {
    match change {
        Change::OnlyRight { object, .. } => {
            let why = match object.kind {
                ObjectKind::Enum | ObjectKind::Domain | ObjectKind::CompositeType => {
                    "DROP TABLE does not drop the types its columns use, and CREATE TYPE has no IF NOT EXISTS, so up fails again with \"already exists\""
                }
                ObjectKind::Sequence => {
                    "a sequence created on its own is not dropped with the table that uses it"
                }
                ObjectKind::Function | ObjectKind::Procedure => {
                    "dropping a trigger or table leaves the function behind"
                }
                ObjectKind::Index => "the down drops the column or constraint but not the index",
                ObjectKind::Extension => "the down does not drop the extension",
                _ => "the down does not drop it",
            };
            format!("{} {} survived ({why})", object.kind, object.name)
        }
        Change::OnlyLeft { object, .. } => format!(
            "{} {} is gone (the down drops something up did not create)",
            object.kind, object.name
        ),
        Change::Differs {
            key,
            attr,
            left,
            right,
        } => format!(
            "{key}: {attr} was {}, is {}",
            left.as_deref().unwrap_or("unset"),
            right.as_deref().unwrap_or("unset")
        ),
        Change::ColumnOrder { table, .. } => format!("the columns of {table} are in another order"),
    }
}

/// The objects a down left behind, for a re-up failure's message.
fn leftovers(diff: &Diff) -> String {
    diff.changes
        .iter()
        .filter_map(|c| match c {
            Change::OnlyRight { object, .. } => Some(format!("{} {}", object.kind, object.name)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TableRows;
    use crate::observe::rollback::{After, DownAndReup};
    use crate::runner::ApplyError;
    use crate::schema::{Object, Snapshot};

    /// A snapshot holding one table `public.t` with `columns` in order.
    fn table(columns: &str) -> Snapshot {
        let object = Object {
            kind: ObjectKind::Table,
            name: "public.t".into(),
            attrs: [("columns", columns), ("kind", "ordinary")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        Snapshot {
            objects: [(object.key(), object.into())].into_iter().collect(),
        }
    }

    /// The findings of a round trip of `1_t` from `before` whose down
    /// leaves `after_down`, as "kind severity: message".
    fn check(before: &str, after_down: &str, expected: &[&str]) {
        let after = |columns| After {
            snapshot: table(columns).into(),
            rows: TableRows::default(),
        };
        let step = RollbackStep {
            migration: "1_t.up.sql".into(),
            seeded: Vec::new(),
            stated_up: Default::default(),
            stated_down: Default::default(),
            before: table(before).into(),
            rows_before: TableRows::default(),
            up: Ok(after("id, a, b, c")),
            down: Down::Ran {
                name: "1_t.down.sql".into(),
                outcome: Ok(DownAndReup {
                    after_down: after(after_down),
                    reup: Ok(table("id, a, b, c").into()),
                }),
            },
        };
        let actual: Vec<String> = check_step(&step, false)
            .iter()
            .map(|f| format!("{} {:?}: {}", f.kind, f.severity, f.message))
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn a_down_that_only_reorders_columns_is_a_warning() {
        check(
            "id, a, b",
            "id, b, a",
            &[
                "down-not-inverse Warning: up then down of 1_t.up.sql does not give back the schema from before up: the columns of public.t are in another order (only the column order differs)",
            ],
        );
    }

    /// The severity and message of an up that failed with `sqlstate`, on
    /// a chain whose first step seeded rows (`generated`) or not.
    fn up_failing(generated: bool, sqlstate: &str) -> (Severity, String) {
        let step = |seeded: bool, up| RollbackStep {
            migration: "m".into(),
            seeded: if seeded {
                vec!["public.t".into()]
            } else {
                Vec::new()
            },
            stated_up: Default::default(),
            stated_down: Default::default(),
            before: Default::default(),
            rows_before: Default::default(),
            up,
            down: Down::NotRun,
        };
        let error = ApplyError {
            migration: "002_cast.sql".into(),
            statement: 1,
            line: 1,
            column: 1,
            sqlstate: Some(sqlstate.into()),
            message: match sqlstate {
                // A column the migration adds (the step's schema before
                // has none): any row fails.
                "23502" => "column \"c\" of relation \"t\" contains null values".into(),
                _ => "invalid input syntax for type json".into(),
            },
        };
        let first = step(
            generated,
            Ok(crate::observe::rollback::After {
                snapshot: Default::default(),
                rows: Default::default(),
            }),
        );
        let findings = check_steps(&[first, step(false, Err(error))]);
        let finding = findings.last().expect("a finding");
        (finding.severity, finding.message.clone())
    }

    #[test]
    fn a_cast_of_generated_text_is_a_warning_with_its_premise() {
        let (severity, message) = up_failing(true, "22P02");
        assert_eq!(severity, Severity::Warning);
        assert!(
            message.starts_with("with rows the application may never write"),
            "{message}"
        );
        assert_eq!(
            up_failing(true, "23502").0,
            Severity::Error,
            "NOT NULL: any rows"
        );
        assert_eq!(
            up_failing(false, "22P02").0,
            Severity::Error,
            "rows the scenario wrote"
        );
    }
}
