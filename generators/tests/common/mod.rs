//! The invariants every [`Plan`] and its renderings keep, shared by the
//! proptest in `history.rs` and the `arbtest` driver in `arbitrary.rs`.
//! They panic with the plan or the SQL that breaks them.

use std::collections::HashSet;

use generators::history::{Defect, Op, Plan, Rendered, render};

/// Checks a plan and its renderings: the correct one and one per defect
/// that fits. Every file parses, every migration has an up and a down in
/// order, and each defect changes the files.
pub fn check_renderings(plan: &Plan) {
    assert!(
        (3..=12).contains(&plan.migrations.len()),
        "{} migrations in {plan:#?}",
        plan.migrations.len()
    );
    assert_unique_names(plan);
    let correct = render(plan, None).expect("a correct rendering always exists");
    assert_parses(&correct);
    assert_pairs(&correct);
    assert_eq!(correct.files.len(), 2 * plan.migrations.len());
    for defect in Defect::ALL {
        let Some(broken) = render(plan, Some(defect)) else {
            continue;
        };
        assert_parses(&broken);
        assert_pairs(&broken);
        assert_eq!(broken.defect, Some(defect));
        assert_ne!(broken.files, correct.files, "{defect:?} changed nothing");
    }
}

fn assert_parses(rendered: &Rendered) {
    for (name, sql) in &rendered.files {
        if let Err(error) = pg_query::parse(sql) {
            panic!(
                "{name} ({:?}) does not parse: {error}\n{sql}",
                rendered.defect
            );
        }
    }
}

/// Every migration has an up and a down, numbered 1..=n in order.
fn assert_pairs(rendered: &Rendered) {
    let names: Vec<&str> = rendered.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len() % 2, 0, "{names:?}");
    for (k, pair) in names.chunks(2).enumerate() {
        let prefix = format!("{:06}_", k + 1);
        assert!(
            pair[0].starts_with(&prefix) && pair[0].ends_with(".up.sql"),
            "{pair:?}"
        );
        let stem = pair[0].trim_end_matches(".up.sql");
        assert_eq!(pair[1], format!("{stem}.down.sql"));
    }
}

/// Names of one namespace (relations and types; constraints per table)
/// are never created twice.
fn assert_unique_names(plan: &Plan) {
    let mut relations = HashSet::new();
    let mut constraints = HashSet::new();
    let mut columns = HashSet::new();
    for op in plan.migrations.iter().flat_map(|m| &m.ops) {
        let fresh = match op {
            Op::CreateTable { table, .. } => relations.insert(table.clone()),
            Op::CreateIndex { name, .. } | Op::CreateEnum { name, .. } => {
                relations.insert(name.clone())
            }
            Op::AddColumn { table, column } => columns.insert((table.clone(), column.name.clone())),
            Op::AddForeignKey {
                table,
                column,
                constraint,
                ..
            } => {
                columns.insert((table.clone(), column.clone()))
                    && constraints.insert((table.clone(), constraint.clone()))
            }
            Op::AddCheck {
                table, constraint, ..
            } => constraints.insert((table.clone(), constraint.clone())),
            Op::Seed { .. } => true,
        };
        assert!(fresh, "{op:?} creates a name twice in {plan:#?}");
    }
}
