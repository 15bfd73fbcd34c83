//! The legacy-case and row strategies against random schemas: they never
//! panic, name only objects that exist, render SQL that parses, make rows
//! that fit their schema, and shrink to a minimal case.

use std::collections::HashSet;

use generators::legacy::{self, History, LegacyCase, MigrationShape, Mutation};
use generators::model::{Column, Constraint, ConstraintKind, EnumType, Index, Schema, Table};
use generators::rows::{self, Row};
use proptest::prelude::*;
use proptest::sample::Index as Pick;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

// ---------------------------------------------------------------- schemas

const TABLES: &[&str] = &["jobs", "user", "order", "Accounts", "chats", "items"];
const COLUMNS: &[&str] = &[
    "chat_id",
    "user_id",
    "name",
    "group",
    "created_at",
    "amount",
    "flag",
    "doc",
    "tags",
    "status",
    "code",
    "Title",
];
const TYPES: &[&str] = &[
    "smallint",
    "integer",
    "bigint",
    "numeric(10,2)",
    "numeric(2,2)",
    "numeric",
    "real",
    "text",
    "character varying(3)",
    "character varying",
    "character(2)",
    "boolean",
    "date",
    "timestamp without time zone",
    "timestamp(3) without time zone",
    "timestamp with time zone",
    "time without time zone",
    "uuid",
    "json",
    "jsonb",
    "integer[]",
    "point",
    "mood",
    "\"Status\"",
    "empty_enum",
];

/// The choices behind one candidate column of a table (one per name in
/// `COLUMNS`), resolved against the tables before it.
#[derive(Clone, Debug)]
struct ColumnShape {
    present: bool,
    /// A `*_id` column refers to a key: its own table's, or a parent's.
    refers: bool,
    to_itself: bool,
    parent: Pick,
    ty: &'static str,
    /// 0: `0`, 1: a sequence's `nextval`, else none.
    default: u8,
    not_null: bool,
    generated: bool,
}

fn column_shape() -> impl Strategy<Value = ColumnShape> {
    (
        prop::bool::weighted(0.35),
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.2),
        any::<Pick>(),
        prop::sample::select(TYPES),
        0..6u8,
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(present, refers, to_itself, parent, ty, default, not_null, generated)| ColumnShape {
                present,
                refers,
                to_itself,
                parent,
                ty,
                default,
                not_null,
                generated,
            },
        )
}

/// An index on one or two columns, or on an expression.
#[derive(Clone, Debug)]
struct IndexShape {
    first: Pick,
    second: Option<Pick>,
    expression: bool,
    unique: bool,
}

fn index_shape() -> impl Strategy<Value = IndexShape> {
    (
        any::<Pick>(),
        prop::option::weighted(0.4, any::<Pick>()),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(first, second, expression, unique)| IndexShape {
            first,
            second,
            expression,
            unique,
        })
}

#[derive(Clone, Debug)]
struct TableShape {
    /// How `id` is typed and filled (see `table`).
    id: u8,
    primary_key: bool,
    columns: Vec<ColumnShape>,
    indexes: Vec<IndexShape>,
    unique: Option<Pick>,
    check: bool,
}

fn table_shape() -> impl Strategy<Value = TableShape> {
    (
        0..5u8,
        prop::bool::weighted(0.85),
        prop::collection::vec(column_shape(), COLUMNS.len()),
        prop::collection::vec(index_shape(), 0..3),
        prop::option::weighted(0.4, any::<Pick>()),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(id, primary_key, columns, indexes, unique, check)| TableShape {
                id,
                primary_key,
                columns,
                indexes,
                unique,
                check,
            },
        )
}

/// The table `name` of `shape`, its foreign keys pointing to itself or to
/// one of `tables` (the tables before it) that has a primary key.
fn table(name: &str, shape: &TableShape, tables: &[Table]) -> Table {
    let mut t = Table {
        name: name.to_owned(),
        columns: Vec::new(),
        indexes: Vec::new(),
        constraints: Vec::new(),
    };
    let (id_ty, id_default, id_generated) = match shape.id {
        0 => (
            "bigint",
            Some(format!("nextval('{name}_id_seq'::regclass)")),
            false,
        ),
        1 => ("integer", None, true),
        2 => ("uuid", Some("gen_random_uuid()".to_owned()), false),
        3 => ("integer", None, false),
        _ => ("text", None, false),
    };
    t.columns.push(Column {
        name: "id".into(),
        ty: id_ty.into(),
        not_null: true,
        default: id_default,
        generated: id_generated,
    });
    if shape.primary_key {
        t.constraints.push(Constraint {
            name: format!("{name}_pkey"),
            kind: ConstraintKind::PrimaryKey {
                columns: vec!["id".into()],
            },
        });
        t.indexes.push(Index {
            name: format!("{name}_pkey"),
            columns: vec!["id".into()],
            unique: true,
            constraint: true,
        });
    }
    let parents: Vec<&Table> = tables
        .iter()
        .filter(|p| {
            p.constraints
                .iter()
                .any(|c| matches!(c.kind, ConstraintKind::PrimaryKey { .. }))
        })
        .collect();
    for (column, c) in COLUMNS.iter().zip(&shape.columns) {
        if !c.present {
            continue;
        }
        let refers = column.ends_with("_id") && c.refers;
        let parent = if refers && c.to_itself {
            Some((t.name.clone(), t.columns[0].ty.clone()))
        } else if refers && !parents.is_empty() {
            let p = parents[c.parent.index(parents.len())];
            Some((p.name.clone(), p.columns[0].ty.clone()))
        } else {
            None
        };
        let ty = match &parent {
            Some((_, ty)) => ty.clone(),
            None => c.ty.to_owned(),
        };
        let default = match c.default {
            0 => Some("0".to_owned()),
            1 => Some(format!("nextval('{name}_{column}_seq'::regclass)")),
            _ => None,
        };
        t.columns.push(Column {
            name: (*column).to_owned(),
            ty,
            not_null: c.not_null,
            default,
            generated: c.generated,
        });
        if let Some((parent, _)) = parent {
            t.constraints.push(Constraint {
                name: format!("{name}_{column}_fkey"),
                kind: ConstraintKind::ForeignKey {
                    columns: vec![(*column).to_owned()],
                    table: parent,
                    references: vec!["id".into()],
                },
            });
        }
    }
    let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    let pick = |i: &Pick| names[i.index(names.len())].clone();
    for (i, index) in shape.indexes.iter().enumerate() {
        let mut columns = vec![pick(&index.first)];
        if let Some(second) = index.second.as_ref().map(pick)
            && !columns.contains(&second)
        {
            columns.push(second);
        }
        if index.expression {
            columns.clear();
        }
        t.indexes.push(Index {
            name: format!("idx_{name}_{i}"),
            columns,
            unique: index.unique,
            constraint: false,
        });
    }
    if let Some(unique) = &shape.unique {
        let column = pick(unique);
        t.constraints.push(Constraint {
            name: format!("{name}_{column}_key"),
            kind: ConstraintKind::Unique {
                columns: vec![column.clone()],
            },
        });
        t.indexes.push(Index {
            name: format!("{name}_{column}_key"),
            columns: vec![column],
            unique: true,
            constraint: true,
        });
    }
    if shape.check {
        t.constraints.push(Constraint {
            name: format!("{name}_check"),
            kind: ConstraintKind::Other,
        });
    }
    t
}

/// Random schemas: tables named after key words and mixed case, columns
/// of many types, primary keys filled by sequences or not, unique
/// constraints and indexes, foreign keys to earlier tables or to itself.
fn schemas() -> impl Strategy<Value = Schema> {
    prop::collection::vec(table_shape(), 0..=TABLES.len()).prop_map(|shapes| {
        let enums = vec![
            EnumType {
                name: "mood".into(),
                labels: vec!["happy".into(), "it's".into()],
            },
            EnumType {
                name: "Status".into(),
                labels: vec!["On".into()],
            },
            EnumType {
                name: "empty_enum".into(),
                labels: vec![],
            },
        ];
        let mut tables: Vec<Table> = Vec::new();
        for (name, shape) in TABLES.iter().zip(&shapes) {
            let t = table(name, shape, &tables);
            tables.push(t);
        }
        Schema { tables, enums }
    })
}

/// Histories whose schema grows a table prefix at a time towards a random
/// schema (foreign keys only point back, so every prefix holds), with up
/// to three migrations of up to four statements.
fn histories() -> impl Strategy<Value = History> {
    (
        schemas(),
        prop::collection::vec((0..5usize, any::<bool>()), 0..4),
    )
        .prop_map(|(last, shapes)| {
            let n = shapes.len();
            // Tables arrive one group per version; before the last version
            // they lack their non-key constraints, which the last one adds
            // (so some constraints were added after their table, as
            // droppable ones are).
            let schemas = (0..=n)
                .map(|k| {
                    let mut tables =
                        last.tables[..(last.tables.len() * k).div_ceil(n.max(1))].to_vec();
                    if k < n {
                        for table in &mut tables {
                            table
                                .constraints
                                .retain(|c| matches!(c.kind, ConstraintKind::PrimaryKey { .. }));
                        }
                    }
                    Schema {
                        tables,
                        enums: last.enums.clone(),
                    }
                })
                .collect();
            let migrations = shapes
                .into_iter()
                .map(|(statements, can_stop_midway)| MigrationShape {
                    statements,
                    can_stop_midway,
                })
                .collect();
            History {
                schemas,
                migrations,
                restores_missing: true,
            }
        })
}

fn history_and_case() -> impl Strategy<Value = (History, LegacyCase)> {
    histories().prop_flat_map(|history| (Just(history.clone()), legacy::cases(&history)))
}

fn schema_and_rows() -> impl Strategy<Value = (Schema, Vec<Row>)> {
    schemas().prop_flat_map(|schema| (Just(schema.clone()), rows::rows(&schema)))
}

// ---------------------------------------------------------------- checks

/// `sql` is exactly one statement Postgres's parser accepts.
fn parses(sql: &str) -> Result<(), String> {
    let parsed = pg_query::parse(sql).map_err(|e| format!("{sql}: {e}"))?;
    match parsed.protobuf.stmts.len() {
        1 => Ok(()),
        n => Err(format!("{sql}: {n} statements")),
    }
}

fn filled_by_database(c: &Column) -> bool {
    c.generated
        || c.default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("))
}

/// A plain btree index can be built on the type (of those `TYPES` has).
fn indexable(ty: &str) -> bool {
    !matches!(ty, "json" | "jsonb" | "integer[]" | "point")
}

fn in_foreign_key(schema: &Schema, table: &str, column: &str) -> bool {
    schema.tables.iter().any(|t| {
        t.constraints.iter().any(|c| match &c.kind {
            ConstraintKind::ForeignKey {
                columns,
                table: parent,
                references,
            } => {
                (t.name == table && columns.iter().any(|c| c == column))
                    || (parent == table && references.iter().any(|r| r == column))
            }
            _ => false,
        })
    })
}

/// What a case may hold for the schema it was drawn from, as the brief of
/// each mutation says.
fn check_case(history: &History, case: &LegacyCase) -> Result<(), String> {
    let n = history.migrations.len();
    if case.upto > n {
        return Err(format!("upto {} beyond {n} migrations", case.upto));
    }
    if let Some(j) = case.midway {
        let shape = history
            .migrations
            .get(case.upto)
            .ok_or("midway past the last migration")?;
        if !shape.can_stop_midway || j < 1 || j >= shape.statements {
            return Err(format!("midway {j} not allowed in {shape:?}"));
        }
    }
    let pk = |t: &Table| -> Vec<String> {
        t.constraints
            .iter()
            .filter_map(|c| match &c.kind {
                ConstraintKind::PrimaryKey { columns } => Some(columns.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    // Each change is checked against the schema the changes before it
    // left: a column may be widened twice (smallint, integer, bigint).
    let mut current = history.schemas[case.upto].clone();
    let mut extras = HashSet::new();
    for m in &case.mutations {
        let schema = &current;
        let table = |name: &str| schema.table(name).ok_or(format!("no table {name}"));
        let column = |t: &str, c: &str| -> Result<Column, String> {
            table(t)?
                .column(c)
                .cloned()
                .ok_or(format!("no column {t}.{c}"))
        };
        let t = table(m.table().ok_or("a mutation without a table")?)?;
        match m {
            Mutation::DropTable { .. } => {}
            Mutation::DropColumn { column: c, .. } => {
                let col = column(&t.name, c)?;
                if col.generated || pk(t).contains(c) {
                    return Err(format!("{m:?} drops a key or generated column"));
                }
            }
            Mutation::DropIndex { index, .. } => {
                let i = t
                    .indexes
                    .iter()
                    .find(|i| i.name == *index)
                    .ok_or(format!("{m:?}: no index"))?;
                if i.constraint {
                    return Err(format!("{m:?} drops a constraint's index"));
                }
            }
            Mutation::DropConstraint { constraint, .. } => {
                let c = t
                    .constraints
                    .iter()
                    .find(|c| c.name == *constraint)
                    .ok_or(format!("{m:?}: no constraint"))?;
                if matches!(c.kind, ConstraintKind::PrimaryKey { .. }) {
                    return Err(format!("{m:?} drops a primary key"));
                }
            }
            Mutation::AddColumn { column: c, ty, .. } => {
                if !c.starts_with("extra_") || t.column(c).is_some() || !extras.insert(c.clone()) {
                    return Err(format!("{m:?}: name taken"));
                }
                if !["integer", "text", "boolean", "timestamp with time zone"]
                    .contains(&ty.as_str())
                {
                    return Err(format!("{m:?}: type"));
                }
            }
            Mutation::AddIndex { index, columns, .. } => {
                let n = index
                    .strip_prefix("extra_")
                    .and_then(|r| r.strip_suffix("_idx"))
                    .ok_or(format!("{m:?}: name"))?;
                if !extras.insert(format!("extra_{n}"))
                    || schema
                        .tables
                        .iter()
                        .any(|t| t.indexes.iter().any(|i| i.name == *index))
                {
                    return Err(format!("{m:?}: name taken"));
                }
                if columns.is_empty() || columns.len() > 2 {
                    return Err(format!("{m:?}: column count"));
                }
                for c in columns {
                    if !indexable(&column(&t.name, c)?.ty) {
                        return Err(format!("{m:?}: no btree on {c}"));
                    }
                }
            }
            Mutation::ChangeType { column: c, ty, .. } => {
                let from = column(&t.name, c)?.ty;
                let widening = matches!(
                    (from.as_str(), ty.as_str()),
                    ("smallint", "integer")
                        | ("integer", "bigint")
                        | ("character varying(3)" | "character varying", "text")
                        | ("numeric(10,2)" | "numeric(2,2)", "numeric")
                        | ("timestamp without time zone", "timestamp with time zone")
                        | (
                            "timestamp(3) without time zone",
                            "timestamp(3) with time zone"
                        )
                );
                if !widening || in_foreign_key(schema, &t.name, c) {
                    return Err(format!("{m:?}: not a safe widening of {from}"));
                }
            }
            Mutation::ChangeDefault { column: c, .. } => {
                if filled_by_database(&column(&t.name, c)?) {
                    return Err(format!(
                        "{m:?} touches a sequence default or a generated column"
                    ));
                }
            }
            Mutation::ChangeNullability { column: c, .. } => {
                let col = column(&t.name, c)?;
                if col.generated || pk(t).contains(c) {
                    return Err(format!("{m:?} on a key or generated column"));
                }
            }
            Mutation::ReplaceIndex { index, columns, .. } => {
                let i = t
                    .indexes
                    .iter()
                    .find(|i| i.name == *index)
                    .ok_or(format!("{m:?}: no index"))?;
                if i.constraint || i.columns == *columns || columns.is_empty() {
                    return Err(format!("{m:?}: not another definition of a plain index"));
                }
                for c in columns {
                    column(&t.name, c)?;
                }
            }
        }
        if m.describe().is_empty() {
            return Err(format!("{m:?}: no description"));
        }
        m.apply(&mut current);
    }
    for sql in case.statements() {
        parses(&sql)?;
    }
    Ok(())
}

/// Rows fit `schema` when inserted in order: named columns exist and are
/// not the database's to fill, NOT NULL columns without a default have a
/// value, keys do not repeat, and a foreign key names a parent row that
/// came before (by its literal key or by reading it back) or is NULL.
fn check_rows(schema: &Schema, rows: &[Row]) -> Result<(), String> {
    let mut keys = HashSet::new();
    for (at, row) in rows.iter().enumerate() {
        parses(&row.sql())?;
        let t = schema
            .table(&row.table)
            .ok_or(format!("no table {}", row.table))?;
        for c in &row.columns {
            let col = t.column(c).ok_or(format!("no column {}.{c}", t.name))?;
            if filled_by_database(col) {
                return Err(format!("{}.{c} is filled by the database", t.name));
            }
        }
        for col in &t.columns {
            if col.not_null
                && col.default.is_none()
                && !col.generated
                && row.value(&col.name).is_none_or(|v| v == "NULL")
            {
                return Err(format!(
                    "{}.{} is NOT NULL and has no value: {row:?}",
                    t.name, col.name
                ));
            }
        }
        let earlier = &rows[..at];
        // A primary key and a unique constraint may share their columns.
        let mut own_keys = HashSet::new();
        for c in &t.constraints {
            match &c.kind {
                ConstraintKind::ForeignKey {
                    columns,
                    table: parent,
                    references,
                } => {
                    let values: Vec<&str> = columns.iter().filter_map(|c| row.value(c)).collect();
                    if values.is_empty() || values.iter().all(|v| *v == "NULL") {
                        continue;
                    }
                    let parents: Vec<&Row> =
                        earlier.iter().filter(|r| r.table == *parent).collect();
                    let literal_match = parents.iter().any(|p| {
                        references
                            .iter()
                            .zip(&values)
                            .all(|(r, v)| p.value(r) == Some(v))
                    });
                    let read_back = values.iter().all(|v| {
                        v.starts_with("(SELECT ")
                            && v.contains(&format!("FROM {} ORDER BY", sql_ident(parent)))
                    }) && !parents.is_empty();
                    if !literal_match && !read_back {
                        return Err(format!("{row:?}: {} names no earlier {parent} row", c.name));
                    }
                }
                ConstraintKind::PrimaryKey { columns } | ConstraintKind::Unique { columns } => {
                    if let Some(values) = columns
                        .iter()
                        .map(|c| row.value(c).filter(|v| *v != "NULL"))
                        .collect::<Option<Vec<_>>>()
                    {
                        own_keys.insert((t.name.clone(), columns.clone(), values));
                    }
                }
                ConstraintKind::Other => {}
            }
        }
        for key in own_keys {
            if !keys.insert(key.clone()) {
                return Err(format!("{row:?}: key {:?} repeats", key.2));
            }
        }
    }
    Ok(())
}

fn sql_ident(name: &str) -> String {
    if TABLES.contains(&name)
        && name.chars().all(|c| c.is_ascii_lowercase())
        && !["user", "order"].contains(&name)
    {
        name.to_owned()
    } else {
        format!("\"{name}\"")
    }
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(Config { cases: 400, failure_persistence: None, ..Config::default() })]

    #[test]
    fn cases_name_only_what_exists_and_render_sql_that_parses((history, case) in history_and_case()) {
        check_case(&history, &case).map_err(TestCaseError::fail)?;
        let names: Vec<String> = (1..=history.migrations.len()).map(|k| format!("{k:03}_m.sql")).collect();
        prop_assert!(!case.describe(&names).is_empty());
    }

    #[test]
    fn rows_fit_their_schema((schema, rows) in schema_and_rows()) {
        check_rows(&schema, &rows).map_err(TestCaseError::fail)?;
    }
}

/// The rows of a case fit the schema its changes left (not the one before
/// them), so check them there.
#[test]
fn rows_of_a_case_fit_the_schema_after_its_changes() {
    let mut runner = TestRunner::deterministic();
    let mut with_rows = 0;
    for _ in 0..300 {
        let (history, case) = history_and_case()
            .new_tree(&mut runner)
            .expect("a tree")
            .current();
        let mut schema = history.schemas[case.upto].clone();
        for m in &case.mutations {
            m.apply(&mut schema);
        }
        check_rows(&schema, &case.rows).unwrap_or_else(|e| panic!("{case:?}: {e}"));
        with_rows += usize::from(!case.rows.is_empty());
    }
    assert!(with_rows > 50, "only {with_rows} of 300 cases had rows");
}

#[test]
fn an_empty_history_gives_the_empty_database() {
    let history = History {
        schemas: vec![Schema::default()],
        migrations: vec![],
        restores_missing: true,
    };
    let mut runner = TestRunner::deterministic();
    let strategy = legacy::cases(&history);
    for _ in 0..100 {
        let case = strategy.new_tree(&mut runner).expect("a tree").current();
        assert_eq!(
            case,
            LegacyCase {
                upto: 0,
                midway: None,
                mutations: vec![],
                rows: vec![]
            }
        );
        assert_eq!(case.describe(&[]), "empty database");
    }
    let rows = rows::rows(&Schema::default());
    for _ in 0..20 {
        assert!(
            rows.new_tree(&mut runner)
                .expect("a tree")
                .current()
                .is_empty()
        );
    }
}

// ---------------------------------------------------------------- shrinking

fn column(name: &str, ty: &str, not_null: bool, default: Option<&str>) -> Column {
    Column {
        name: name.into(),
        ty: ty.into(),
        not_null,
        default: default.map(Into::into),
        generated: false,
    }
}

/// 001 creates jobs, 002 users, 003 an index; every step keeps jobs.chat_id.
fn jobs_history() -> History {
    let jobs = Table {
        name: "jobs".into(),
        columns: vec![
            column(
                "id",
                "bigint",
                true,
                Some("nextval('jobs_id_seq'::regclass)"),
            ),
            column("chat_id", "bigint", false, None),
            column("title", "text", false, None),
        ],
        indexes: vec![
            Index {
                name: "jobs_pkey".into(),
                columns: vec!["id".into()],
                unique: true,
                constraint: true,
            },
            Index {
                name: "idx_jobs_chat_id".into(),
                columns: vec!["chat_id".into()],
                unique: false,
                constraint: false,
            },
        ],
        constraints: vec![Constraint {
            name: "jobs_pkey".into(),
            kind: ConstraintKind::PrimaryKey {
                columns: vec!["id".into()],
            },
        }],
    };
    let users = Table {
        name: "user".into(),
        columns: vec![
            column("id", "integer", true, None),
            column("name", "character varying(20)", true, None),
        ],
        indexes: vec![],
        constraints: vec![Constraint {
            name: "user_pkey".into(),
            kind: ConstraintKind::PrimaryKey {
                columns: vec!["id".into()],
            },
        }],
    };
    let s1 = Schema {
        tables: vec![jobs.clone()],
        enums: vec![],
    };
    let s2 = Schema {
        tables: vec![jobs.clone(), users.clone()],
        enums: vec![],
    };
    let mut jobs3 = jobs;
    jobs3
        .columns
        .push(column("user_id", "integer", false, None));
    jobs3.indexes.push(Index {
        name: "idx_jobs_user_id".into(),
        columns: vec!["user_id".into()],
        unique: false,
        constraint: false,
    });
    let s3 = Schema {
        tables: vec![jobs3, users],
        enums: vec![],
    };
    let shape = MigrationShape {
        statements: 4,
        can_stop_midway: true,
    };
    History {
        schemas: vec![Schema::default(), s1, s2, s3],
        migrations: vec![shape; 3],
        restores_missing: true,
    }
}

/// Found by CI's random cases: a second change of a column's type widens
/// what the first one left, not the original type.
#[test]
fn a_column_may_be_widened_twice() {
    let table = Table {
        name: "jobs".into(),
        columns: vec![column("name", "smallint", true, None)],
        indexes: vec![],
        constraints: vec![],
    };
    let history = History {
        schemas: vec![
            Schema::default(),
            Schema {
                tables: vec![table],
                enums: vec![],
            },
        ],
        migrations: vec![MigrationShape {
            statements: 4,
            can_stop_midway: true,
        }],
        restores_missing: true,
    };
    let widen = |ty: &str| Mutation::ChangeType {
        table: "jobs".into(),
        column: "name".into(),
        ty: ty.into(),
    };
    let case = LegacyCase {
        upto: 1,
        midway: None,
        mutations: vec![widen("integer"), widen("bigint")],
        rows: vec![],
    };
    check_case(&history, &case).expect("widened twice is allowed");
    let mut schema = history.schemas[1].clone();
    for m in &case.mutations {
        m.apply(&mut schema);
    }
    assert_eq!(schema.tables[0].columns[0].ty, "bigint");
    let narrowing = LegacyCase {
        mutations: vec![widen("integer"), widen("integer")],
        ..case
    };
    assert!(check_case(&history, &narrowing).is_err());
}

/// Shrinks `tree` as proptest's runner does while `interesting` holds.
fn shrink(
    mut tree: impl ValueTree<Value = LegacyCase>,
    interesting: impl Fn(&LegacyCase) -> bool,
) -> LegacyCase {
    let mut last = tree.current();
    if !tree.simplify() {
        return last;
    }
    loop {
        let case = tree.current();
        let more = if interesting(&case) {
            last = case;
            tree.simplify()
        } else {
            tree.complicate()
        };
        if !more {
            return last;
        }
    }
}

#[test]
fn a_case_shrinks_to_the_one_change_that_matters() {
    let history = jobs_history();
    let strategy = legacy::cases(&history);
    let drops_chat_id = |case: &LegacyCase| {
        case.mutations.iter().any(|m| {
            matches!(m, Mutation::DropColumn { table, column } if table == "jobs" && column == "chat_id")
        })
    };
    let mut runner = TestRunner::deterministic();
    let mut shrunk = 0;
    for _ in 0..5000 {
        let tree = strategy.new_tree(&mut runner).expect("a tree");
        let case = tree.current();
        // Start from a busy case, so that shrinking has work to do.
        if !drops_chat_id(&case) || case.upto < 2 || case.mutations.len() + case.rows.len() < 3 {
            continue;
        }
        let minimal = shrink(tree, drops_chat_id);
        assert_eq!(
            minimal,
            LegacyCase {
                upto: 1,
                midway: None,
                mutations: vec![Mutation::DropColumn {
                    table: "jobs".into(),
                    column: "chat_id".into()
                }],
                rows: vec![],
            },
            "from {case:?}"
        );
        assert_eq!(
            minimal.describe(&[
                "001_jobs.sql".into(),
                "002_users.sql".into(),
                "003_idx.sql".into()
            ]),
            "deployed at 001_jobs.sql, then jobs.chat_id dropped"
        );
        shrunk += 1;
        if shrunk == 10 {
            return;
        }
    }
    panic!("only {shrunk} busy cases dropped jobs.chat_id");
}

// ---------------------------------------------------------------- rendering

fn check(mutation: Mutation, statements: &[&str], describe: &str) {
    assert_eq!(mutation.statements(), statements, "{mutation:?}");
    assert_eq!(mutation.describe(), describe);
    for s in statements {
        parses(s).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn mutations_render_one_statement_each_with_quoted_names() {
    let s = |x: &str| x.to_owned();
    check(
        Mutation::DropTable { table: s("user") },
        &["DROP TABLE IF EXISTS \"user\" CASCADE"],
        "table user dropped",
    );
    check(
        Mutation::DropColumn {
            table: s("jobs"),
            column: s("chat_id"),
        },
        &["ALTER TABLE jobs DROP COLUMN IF EXISTS chat_id CASCADE"],
        "jobs.chat_id dropped",
    );
    check(
        Mutation::DropIndex {
            table: s("jobs"),
            index: s("Idx"),
        },
        &["DROP INDEX IF EXISTS \"Idx\""],
        "index Idx dropped",
    );
    check(
        Mutation::DropConstraint {
            table: s("order"),
            constraint: s("order_user_id_fkey"),
        },
        &["ALTER TABLE \"order\" DROP CONSTRAINT IF EXISTS order_user_id_fkey CASCADE"],
        "constraint order_user_id_fkey of order dropped",
    );
    check(
        Mutation::AddColumn {
            table: s("jobs"),
            column: s("extra_0"),
            ty: s("timestamp with time zone"),
        },
        &["ALTER TABLE jobs ADD COLUMN extra_0 timestamp with time zone"],
        "jobs.extra_0 (timestamp with time zone) added",
    );
    check(
        Mutation::AddIndex {
            table: s("jobs"),
            index: s("extra_1_idx"),
            columns: vec![s("group"), s("id")],
        },
        &["CREATE INDEX extra_1_idx ON jobs (\"group\", id)"],
        "index extra_1_idx on jobs (group, id) added",
    );
    check(
        Mutation::ChangeType {
            table: s("jobs"),
            column: s("n"),
            ty: s("bigint"),
        },
        &["ALTER TABLE jobs ALTER COLUMN n TYPE bigint"],
        "jobs.n changed to bigint",
    );
    check(
        Mutation::ChangeDefault {
            table: s("jobs"),
            column: s("n"),
            default: Some(s("0")),
        },
        &["ALTER TABLE jobs ALTER COLUMN n SET DEFAULT 0"],
        "jobs.n default set to 0",
    );
    check(
        Mutation::ChangeDefault {
            table: s("jobs"),
            column: s("n"),
            default: None,
        },
        &["ALTER TABLE jobs ALTER COLUMN n DROP DEFAULT"],
        "jobs.n default dropped",
    );
    check(
        Mutation::ChangeNullability {
            table: s("jobs"),
            column: s("n"),
            not_null: false,
        },
        &["ALTER TABLE jobs ALTER COLUMN n DROP NOT NULL"],
        "jobs.n made nullable",
    );
    check(
        Mutation::ReplaceIndex {
            table: s("jobs"),
            index: s("idx_jobs_chat_id"),
            columns: vec![s("user_id")],
        },
        &[
            "DROP INDEX IF EXISTS idx_jobs_chat_id",
            "CREATE INDEX idx_jobs_chat_id ON jobs (user_id)",
        ],
        "index idx_jobs_chat_id re-created on (user_id)",
    );
}

#[test]
fn a_case_is_described_by_version_crash_changes_and_rows() {
    let names = [
        "001_init.sql".to_owned(),
        "002_jobs.sql".to_owned(),
        "003_x.sql".to_owned(),
    ];
    let row = Row {
        table: "jobs".into(),
        columns: vec![],
        values: vec![],
    };
    let mut case = LegacyCase {
        upto: 2,
        midway: None,
        mutations: vec![Mutation::DropColumn {
            table: "jobs".into(),
            column: "chat_id".into(),
        }],
        rows: vec![row.clone(), row.clone()],
    };
    assert_eq!(
        case.describe(&names),
        "deployed at 002_jobs.sql, then jobs.chat_id dropped, 2 rows"
    );
    assert_eq!(
        case.statements(),
        [
            "ALTER TABLE jobs DROP COLUMN IF EXISTS chat_id CASCADE",
            "INSERT INTO jobs DEFAULT VALUES",
            "INSERT INTO jobs DEFAULT VALUES"
        ]
    );
    case.mutations.clear();
    case.rows.truncate(1);
    case.midway = Some(2);
    assert_eq!(
        case.describe(&names),
        "deployed at 002_jobs.sql, then 003_x.sql stopped after statement 2, 1 row"
    );
    case.upto = 0;
    case.rows.clear();
    assert_eq!(
        case.describe(&names),
        "001_init.sql stopped after statement 2"
    );
}

/// A child of a parent whose key a sequence fills reads that key back.
#[test]
fn a_foreign_key_to_a_sequence_key_reads_the_parent_back() {
    let history = jobs_history();
    let mut schema = history.schemas[1].clone();
    schema.tables.push(Table {
        name: "runs".into(),
        columns: vec![column("job_id", "bigint", true, None)],
        indexes: vec![],
        constraints: vec![Constraint {
            name: "runs_job_id_fkey".into(),
            kind: ConstraintKind::ForeignKey {
                columns: vec!["job_id".into()],
                table: "jobs".into(),
                references: vec!["id".into()],
            },
        }],
    });
    let strategy = rows::rows(&schema);
    let mut runner = TestRunner::deterministic();
    let mut children = 0;
    for _ in 0..200 {
        let rows = strategy.new_tree(&mut runner).expect("a tree").current();
        check_rows(&schema, &rows).unwrap_or_else(|e| panic!("{e}"));
        let jobs = rows.iter().filter(|r| r.table == "jobs").count();
        for run in rows.iter().filter(|r| r.table == "runs") {
            let value = run.value("job_id").expect("job_id has a value");
            let offset: usize = value
                .strip_prefix("(SELECT id FROM jobs ORDER BY id DESC NULLS LAST LIMIT 1 OFFSET ")
                .and_then(|v| v.strip_suffix(')'))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{value}"));
            assert!(offset < jobs, "offset {offset} with {jobs} jobs");
            children += 1;
        }
        if jobs == 0 {
            assert!(
                rows.iter().all(|r| r.table != "runs"),
                "a run without a job: {rows:?}"
            );
        }
    }
    assert!(children > 20, "only {children} runs");
}

/// Every kind of change turns up, and a crash midway where one can happen.
#[test]
fn every_kind_of_change_is_drawn() {
    let mut runner = TestRunner::deterministic();
    let mut kinds = HashSet::new();
    let (mut cases, mut unchanged, mut midway) = (0, 0, 0);
    for _ in 0..400 {
        let history = histories().new_tree(&mut runner).expect("a tree").current();
        let strategy = legacy::cases(&history);
        for _ in 0..5 {
            let case = strategy.new_tree(&mut runner).expect("a tree").current();
            cases += 1;
            unchanged += usize::from(case.mutations.is_empty());
            midway += usize::from(case.midway.is_some());
            for m in &case.mutations {
                kinds.insert(
                    format!("{m:?}")
                        .split([' ', '{'])
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                );
            }
        }
    }
    assert_eq!(kinds.len(), 10, "{kinds:?}");
    assert!(
        unchanged > cases / 5 && unchanged < cases * 3 / 4,
        "{unchanged} of {cases} unchanged"
    );
    assert!(midway > cases / 50, "{midway} of {cases} midway");
}

/// Rows respect the domains their columns declare: an `ltree` column
/// gets label paths, json columns documents.
#[test]
fn rows_respect_declared_domains() {
    let table = Table {
        name: "categories".into(),
        columns: vec![
            column("path", "ltree", true, None),
            column("qualified", "public.ltree", true, None),
            column("doc", "jsonb", true, None),
            column("raw", "json", true, None),
        ],
        indexes: Vec::new(),
        constraints: Vec::new(),
    };
    let schema = Schema {
        tables: vec![table],
        ..Default::default()
    };
    let label = |v: &str| {
        let path = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\''));
        path.is_some_and(|p| {
            p.split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        })
    };
    let document = |v: &str| v.starts_with("'{") && v.ends_with("}'");
    let mut runner = TestRunner::deterministic();
    let mut seen = 0;
    for _ in 0..50 {
        let rows = rows::rows(&schema)
            .new_tree(&mut runner)
            .expect("a tree")
            .current();
        for row in &rows {
            for (column, value) in row.columns.iter().zip(&row.values) {
                let fits = match column.as_str() {
                    "path" | "qualified" => label(value),
                    _ => document(value),
                };
                assert!(fits, "{column} = {value}");
                seen += 1;
            }
        }
    }
    assert!(seen > 20, "only {seen} values made");
}
