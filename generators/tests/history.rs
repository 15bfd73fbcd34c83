//! The history generator's renderings: valid SQL, well-formed sets, and
//! defects that change them and fit nearly every plan. (Whether migcheck
//! finds each defect needs Postgres; `cargo xtask fuzz --self-test` and the
//! `render` example check that.)

mod common;

use generators::history::{Defect, Plan, Rendered, plans, render};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn runner(seed: u8) -> TestRunner {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    TestRunner::new_with_rng(Config::default(), rng)
}

fn sample(count: usize) -> Vec<Plan> {
    let mut runner = runner(7);
    (0..count)
        .map(|_| {
            plans()
                .new_tree(&mut runner)
                .expect("plans() never rejects")
                .current()
        })
        .collect()
}

proptest! {
    #![proptest_config(Config { cases: 300, ..Config::default() })]

    #[test]
    fn every_rendering_parses_and_is_well_formed(plan in plans()) {
        common::check_renderings(&plan);
    }
}

#[test]
fn the_correct_style_guards_every_creation() {
    for plan in sample(100) {
        let correct = render(&plan, None).expect("correct");
        for (name, sql) in &correct.files {
            for line in sql.lines() {
                let line = line.trim_start();
                let guarded = line.contains("IF NOT EXISTS")
                    || line.contains("IF EXISTS")
                    || line.starts_with("CREATE TYPE")
                    || line.starts_with("ALTER TABLE") && line.contains("ADD CONSTRAINT");
                let creates = ["CREATE ", "ALTER TABLE", "DROP "]
                    .iter()
                    .any(|p| line.starts_with(p));
                assert!(!creates || guarded, "{name}: {line}");
            }
            // Every seed is guarded by its key.
            assert_eq!(
                sql.matches("INSERT INTO").count(),
                sql.matches("\nWHERE NOT EXISTS (SELECT 1 FROM settings WHERE key = ")
                    .count(),
                "{name}: {sql}"
            );
        }
    }
}

#[test]
fn every_defect_fits_nearly_every_plan() {
    let plans = sample(300);
    for defect in Defect::ALL {
        let fits = plans
            .iter()
            .filter(|p| render(p, Some(defect)).is_some())
            .count();
        assert!(
            fits * 100 >= plans.len() * 95,
            "{defect:?} fits only {fits} of {} plans",
            plans.len()
        );
    }
}

#[test]
fn a_defect_renders_its_shape() {
    let plan = &sample(1)[0];
    let correct = render(plan, None).expect("correct");
    let text = |r: &Rendered| {
        r.files
            .iter()
            .map(|(n, s)| format!("-- {n}\n{s}"))
            .collect::<String>()
    };
    let rendered = |d| render(plan, Some(d)).expect("fits");
    assert!(
        text(&rendered(Defect::RerunFailed)).contains("ADD COLUMN ") && {
            let t = text(&rendered(Defect::RerunFailed));
            t.matches("ADD COLUMN IF NOT EXISTS").count()
                == text(&correct).matches("ADD COLUMN IF NOT EXISTS").count() - 1
        }
    );
    let changed = text(&rendered(Defect::RerunChanged));
    assert!(!changed.contains("WHERE NOT EXISTS") && changed.contains("INSERT INTO settings"));
    assert!(text(&rendered(Defect::DivergesFromFresh)).contains("FROM pg_tables"));
    assert_eq!(
        text(&rendered(Defect::DownNotInverse))
            .matches("DROP TYPE")
            .count()
            + 1,
        text(&correct).matches("DROP TYPE").count()
    );
    let missing = rendered(Defect::MissingExpected);
    assert_eq!(missing.files.len() + 2, correct.files.len());
    assert_eq!(missing.expect, correct.expect);
    // The folded column is declared in CREATE TABLE, and added nowhere.
    let folded = rendered(Defect::LegacyApplyFailed);
    let creates_with_column = folded
        .files
        .iter()
        .any(|(_, sql)| sql.contains("PRIMARY KEY,\n"));
    assert!(creates_with_column, "{}", text(&folded));
    assert_eq!(
        folded.files,
        rendered(Defect::IndexBeforeColumn).files,
        "lint's view of the same shape"
    );
}

#[test]
fn the_scenario_file_quotes_every_name() {
    let plan = &sample(1)[0];
    let rendered = render(plan, Some(Defect::MissingExpected)).expect("fits");
    let yaml = rendered.scenario_yaml("sets/one");
    assert!(yaml.contains("migrations: \"sets/one\"\n"), "{yaml}");
    assert!(yaml.contains("format: golang-migrate\n"));
    assert!(yaml.contains("runner: rerun-all\n"));
    for column in &rendered.expect.columns {
        assert!(
            yaml.contains(&format!("\"{column}\"")),
            "{column} in {yaml}"
        );
    }
    for index in &rendered.expect.indexes {
        assert!(yaml.contains(&format!("\"{index}\"")), "{index} in {yaml}");
    }
    assert!(!yaml.contains("legacy:"));
    let older = plan.older_first_table().expect("a plan has tables");
    assert!(older.1.starts_with("CREATE TABLE ") && older.1.contains("PRIMARY KEY"));
    let yaml = rendered.scenario_yaml_with_legacy("sets/one", std::slice::from_ref(&older));
    assert!(
        yaml.ends_with(&format!(
            "legacy:\n  - name: \"{}\"\n    sql: \"{}\"\n",
            older.0, older.1
        )),
        "{yaml}"
    );
}

#[test]
fn plans_are_deterministic_for_a_seed() {
    let a = plans().new_tree(&mut runner(3)).expect("tree").current();
    let b = plans().new_tree(&mut runner(3)).expect("tree").current();
    assert_eq!(a, b);
    assert_eq!(render(&a, None), render(&b, None));
}
