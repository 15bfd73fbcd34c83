//! Diff on hand-built snapshots: no server needed, since diff is pure. The
//! rendered diffs are `expect!` snapshots: after an intended change,
//! `UPDATE_EXPECT=1 cargo test -p tests --test diff` rewrites them; review
//! the diff.

use expect_test::{Expect, expect};
use migcheck::schema::{self, Change, Diff, Object, ObjectKind, Snapshot};

fn object(kind: ObjectKind, name: &str, attrs: &[(&str, &str)]) -> Object {
    Object {
        kind,
        name: name.to_owned(),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn snapshot(objects: Vec<Object>) -> Snapshot {
    Snapshot {
        objects: objects.into_iter().map(|o| (o.key(), o.into())).collect(),
    }
}

/// The only caller of `schema::diff` in this file.
fn check(left: Vec<Object>, right: Vec<Object>, expected: Expect) -> Diff {
    let diff = schema::diff(&snapshot(left), &snapshot(right));
    let rendered = diff.render("after a fresh install", "after upgrading");
    expected.assert_eq(&rendered);
    diff
}

fn jobs_table(columns: &str) -> Object {
    object(
        ObjectKind::Table,
        "public.jobs",
        &[("columns", columns), ("kind", "ordinary")],
    )
}

fn column(name: &str, ty: &str) -> Object {
    object(
        ObjectKind::Column,
        name,
        &[("not_null", "false"), ("type", ty)],
    )
}

#[test]
fn a_missing_table_folds_its_parts() {
    let diff = check(
        vec![
            jobs_table("id, chat_id"),
            column("public.jobs.id", "bigint"),
            column("public.jobs.chat_id", "bigint"),
            object(
                ObjectKind::Constraint,
                "public.jobs.jobs_pkey",
                &[("definition", "PRIMARY KEY (id)")],
            ),
            object(
                ObjectKind::Index,
                "public.jobs_pkey",
                &[("table", "public.jobs")],
            ),
            object(
                ObjectKind::Index,
                "public.idx_jobs_chat_id",
                &[("table", "public.jobs")],
            ),
            object(ObjectKind::Trigger, "public.jobs.jobs_touch", &[]),
            // Not part of jobs: listed on its own.
            object(
                ObjectKind::Index,
                "public.jobs2_x",
                &[("table", "public.jobs2")],
            ),
        ],
        vec![],
        expect![[r#"
            index public.jobs2_x: exists after a fresh install, missing after upgrading
            table public.jobs (id, chat_id) with 1 constraint, 2 indexes, 1 trigger: exists after a fresh install, missing after upgrading
        "#]],
    );
    // The structure still has every object, for checks that filter.
    assert_eq!(diff.changes.len(), 8);
}

#[test]
fn added_column_and_reordered_columns() {
    let diff = check(
        vec![jobs_table("id, a, b"), column("public.jobs.id", "int")],
        vec![
            jobs_table("id, b, c, a"),
            column("public.jobs.id", "int"),
            column("public.jobs.c", "text"),
        ],
        expect![[r#"
            column public.jobs.c (text): missing after a fresh install, exists after upgrading
            table public.jobs: columns in order (id, a, b) after a fresh install, (id, b, c, a) after upgrading (minor)
        "#]],
    );
    assert!(!diff.is_minor());
    let mut minor_only = diff.clone();
    minor_only.retain(Change::is_minor);
    assert!(minor_only.is_minor());
    assert_eq!(minor_only.changes[0].key(), "table public.jobs");
    let mut none = diff;
    none.retain(|c| !c.key().starts_with("table ") && !c.key().starts_with("column "));
    assert!(none.is_empty() && !none.is_minor());
}

#[test]
fn long_definitions_show_only_changed_lines() {
    let body = |rate: &str| {
        let mut lines: Vec<String> = (1..=12).map(|i| format!("  -- line {i}")).collect();
        lines[6] = format!("  RETURN amount * {rate};");
        lines.join("\n")
    };
    check(
        vec![object(
            ObjectKind::Function,
            "public.tax(numeric)",
            &[("definition", &body("1.20"))],
        )],
        vec![object(
            ObjectKind::Function,
            "public.tax(numeric)",
            &[("definition", &body("1.19"))],
        )],
        expect![[r#"
            function public.tax(numeric): definition differs (- after a fresh install, + after upgrading):
                ...
                  -- line 5
                  -- line 6
              -   RETURN amount * 1.20;
              +   RETURN amount * 1.19;
                  -- line 8
                  -- line 9
                ...
        "#]],
    );
}

#[test]
fn differences_in_one_object_are_grouped() {
    check(
        vec![object(
            ObjectKind::Index,
            "public.i",
            &[
                ("definition", "CREATE INDEX i ON public.t USING btree (a)"),
                ("valid", "true"),
            ],
        )],
        vec![object(
            ObjectKind::Index,
            "public.i",
            &[
                ("definition", "CREATE INDEX i ON public.t USING btree (b)"),
                ("valid", "false"),
            ],
        )],
        expect![[r#"
            index public.i:
              definition CREATE INDEX i ON public.t USING btree (a) after a fresh install, definition CREATE INDEX i ON public.t USING btree (b) after upgrading
              valid after a fresh install, INVALID after upgrading
        "#]],
    );
}

#[test]
fn equal_snapshots_and_serialisation() {
    let diff = check(vec![jobs_table("id")], vec![jobs_table("id")], expect![""]);
    assert!(diff.is_empty() && !diff.is_minor());
    let diff = schema::diff(
        &snapshot(vec![]),
        &snapshot(vec![column("public.t.c", "int")]),
    );
    let json = serde_json::to_value(&diff).expect("serialize");
    assert_eq!(json["changes"][0]["change"], "only-right");
    assert_eq!(json["changes"][0]["object"]["kind"], "column");
    assert_eq!(
        ObjectKind::MaterializedView.to_string(),
        "materialized view"
    );
    assert_eq!(
        ObjectKind::from_words("composite type"),
        Some(ObjectKind::CompositeType)
    );
}
