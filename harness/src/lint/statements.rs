//! Rules about single statements: `non-idempotent-statement` and
//! `tx-incompatible`.

use std::collections::HashSet;

use pg_query::NodeEnum;
use pg_query::protobuf::{
    AlterTableStmt, AlterTableType, ObjectType, RangeVar, RenameStmt, TransactionStmtKind,
};

use super::{Hit, Table, Unit, names, string_consts, strings};
use crate::finding::Kind;
use crate::migrations::{MigrationSet, TxNeed};

pub(super) fn check(set: &MigrationSet, units: &[Unit], hits: &mut Vec<Hit>) {
    non_idempotent(units, hits);
    tx_incompatible(set, units, hits);
}

/// `non-idempotent-statement` (warning): a statement that errors when it is
/// executed a second time.
///
/// Only runners that execute every file again at every start (`rerun-all`)
/// run a statement twice; for a runner that records applied versions this
/// is harmless, hence a warning. Reported at the statement:
///
/// - `CREATE TABLE`, `INDEX`, `SEQUENCE`, `SCHEMA`, `MATERIALIZED VIEW`,
///   `EXTENSION` without `IF NOT EXISTS`; an index without a name (it is
///   created again under a new name every time);
/// - `CREATE VIEW`, `FUNCTION`, `PROCEDURE`, `TRIGGER` without `OR REPLACE`;
/// - `CREATE TYPE` and `CREATE DOMAIN`, which have no `IF NOT EXISTS`;
/// - `ALTER TABLE ... ADD COLUMN` without `IF NOT EXISTS`, `ADD
///   CONSTRAINT` (no `IF NOT EXISTS` either), `DROP COLUMN` / `DROP
///   CONSTRAINT` without `IF EXISTS`;
/// - `ALTER TYPE ... ADD VALUE` without `IF NOT EXISTS`;
/// - every `RENAME` (the old name is gone the second time), except
///   `ALTER TABLE IF EXISTS old RENAME TO new`;
/// - `DROP ...` without `IF EXISTS`.
///
/// Not reported: a statement inside a DO block under an existence check
/// (an IF whose condition uses EXISTS, FOUND, `to_reg*`, `pg_*` catalogs
/// or `information_schema`) or in a block with an EXCEPTION clause; and a
/// creation preceded, in the same migration, by a `DROP ... IF EXISTS` of
/// the same name (`DROP CONSTRAINT IF EXISTS c, ADD CONSTRAINT c ...`).
///
/// Bad: the second run fails with `column "email" of relation "accounts"
/// already exists`.
///
/// ```sql
/// ALTER TABLE accounts ADD COLUMN email text;
/// ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
/// CREATE TYPE mood AS ENUM ('sad', 'happy');
/// ```
///
/// Good:
///
/// ```sql
/// ALTER TABLE accounts ADD COLUMN IF NOT EXISTS email text;
/// ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_email_key,
///     ADD CONSTRAINT accounts_email_key UNIQUE (email);
/// DO $$
/// BEGIN
///     IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN
///         CREATE TYPE mood AS ENUM ('sad', 'happy');
///     END IF;
/// END
/// $$;
/// ```
pub(super) fn non_idempotent(units: &[Unit], hits: &mut Vec<Hit>) {
    // Names dropped with IF EXISTS earlier in the same migration: creating
    // them again cannot fail.
    let mut dropped: HashSet<(Space, String)> = HashSet::new();
    let mut migration = usize::MAX;
    for (i, unit) in units.iter().enumerate() {
        if unit.migration != migration {
            migration = unit.migration;
            dropped.clear();
        }
        let mut problems = Vec::new();
        statement_problems(unit, &mut dropped, &mut problems);
        if unit.conds.iter().any(|c| c.guards_rerun()) {
            continue;
        }
        hits.extend(problems.into_iter().map(|message| Hit {
            kind: Kind::NonIdempotentStatement,
            unit: i,
            offset: unit.base,
            message,
            missing: None,
            assumed: false,
        }));
    }
}

/// Namespaces in which a dropped name frees the name for a creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Space {
    Relation,
    Type,
    Function,
    Trigger,
    Schema,
    Extension,
    Constraint,
}

fn last(names: &[String]) -> String {
    names.last().cloned().unwrap_or_default()
}

fn relation_name(relation: &Option<RangeVar>) -> String {
    relation
        .as_ref()
        .map(|r| Table::of(r).to_string())
        .unwrap_or_default()
}

/// What fails when `unit` runs again; records what it drops IF EXISTS.
fn statement_problems(
    unit: &Unit,
    dropped: &mut HashSet<(Space, String)>,
    problems: &mut Vec<String>,
) {
    let mut create = |space: Space, name: String, problem: String| {
        if !dropped.contains(&(space, name)) {
            problems.push(problem);
        }
    };
    let type_problem = |what: &str, name: &str| {
        format!(
            "CREATE {what} {name} fails with \"type already exists\" when it runs again, and has no IF NOT EXISTS; create it in a DO block that checks pg_type first or catches duplicate_object"
        )
    };
    match &unit.node {
        NodeEnum::CreateStmt(s) if !s.if_not_exists => {
            let name = relation_name(&s.relation);
            let short = s.relation.as_ref().map(|r| r.relname.clone());
            create(
                Space::Relation,
                short.unwrap_or_default(),
                format!(
                    "CREATE TABLE {name} fails with \"relation already exists\" when it runs again; write CREATE TABLE IF NOT EXISTS"
                ),
            );
        }
        NodeEnum::IndexStmt(s) if !s.if_not_exists => {
            if s.idxname.is_empty() {
                create(
                    Space::Relation,
                    String::new(),
                    "CREATE INDEX without a name creates one more identical index every time it runs; name it and write CREATE INDEX IF NOT EXISTS".to_string(),
                );
            } else {
                create(
                    Space::Relation,
                    s.idxname.clone(),
                    format!(
                        "CREATE INDEX {} fails with \"relation already exists\" when it runs again; write CREATE INDEX IF NOT EXISTS",
                        s.idxname
                    ),
                );
            }
        }
        NodeEnum::CreateSeqStmt(s) if !s.if_not_exists => {
            let short = s.sequence.as_ref().map(|r| r.relname.clone());
            create(
                Space::Relation,
                short.unwrap_or_default(),
                format!(
                    "CREATE SEQUENCE {} fails with \"relation already exists\" when it runs again; write CREATE SEQUENCE IF NOT EXISTS",
                    relation_name(&s.sequence)
                ),
            );
        }
        NodeEnum::CreateSchemaStmt(s) if !s.if_not_exists => create(
            Space::Schema,
            s.schemaname.clone(),
            format!(
                "CREATE SCHEMA {} fails with \"schema already exists\" when it runs again; write CREATE SCHEMA IF NOT EXISTS",
                s.schemaname
            ),
        ),
        NodeEnum::ViewStmt(s) if !s.replace => {
            let short = s.view.as_ref().map(|r| r.relname.clone());
            create(
                Space::Relation,
                short.unwrap_or_default(),
                format!(
                    "CREATE VIEW {} fails with \"relation already exists\" when it runs again; write CREATE OR REPLACE VIEW",
                    relation_name(&s.view)
                ),
            );
        }
        NodeEnum::CreateTableAsStmt(s) if !s.if_not_exists => {
            let relation = s.into.as_ref().and_then(|i| i.rel.clone());
            let what = if s.objtype == ObjectType::ObjectMatview as i32 {
                "MATERIALIZED VIEW"
            } else {
                "TABLE"
            };
            let short = relation.as_ref().map(|r| r.relname.clone());
            create(
                Space::Relation,
                short.unwrap_or_default(),
                format!(
                    "CREATE {what} {} fails with \"relation already exists\" when it runs again; write CREATE {what} IF NOT EXISTS",
                    relation_name(&relation)
                ),
            );
        }
        NodeEnum::CompositeTypeStmt(s) => {
            let name = relation_name(&s.typevar);
            let short = s.typevar.as_ref().map(|r| r.relname.clone());
            create(
                Space::Type,
                short.unwrap_or_default(),
                type_problem("TYPE", &name),
            );
        }
        NodeEnum::CreateEnumStmt(s) => {
            let names = strings(&s.type_name);
            create(
                Space::Type,
                last(&names),
                type_problem("TYPE", &names.join(".")),
            );
        }
        NodeEnum::CreateRangeStmt(s) => {
            let names = strings(&s.type_name);
            create(
                Space::Type,
                last(&names),
                type_problem("TYPE", &names.join(".")),
            );
        }
        NodeEnum::DefineStmt(s) if s.kind == ObjectType::ObjectType as i32 => {
            let names = strings(&s.defnames);
            create(
                Space::Type,
                last(&names),
                type_problem("TYPE", &names.join(".")),
            );
        }
        NodeEnum::CreateDomainStmt(s) => {
            let names = strings(&s.domainname);
            create(
                Space::Type,
                last(&names),
                type_problem("DOMAIN", &names.join(".")),
            );
        }
        NodeEnum::CreateFunctionStmt(s) if !s.replace => {
            let names = strings(&s.funcname);
            let what = if s.is_procedure {
                "PROCEDURE"
            } else {
                "FUNCTION"
            };
            create(
                Space::Function,
                last(&names),
                format!(
                    "CREATE {what} {} fails with \"already exists\" when it runs again; write CREATE OR REPLACE {what}",
                    names.join(".")
                ),
            );
        }
        NodeEnum::CreateExtensionStmt(s) if !s.if_not_exists => create(
            Space::Extension,
            s.extname.clone(),
            format!(
                "CREATE EXTENSION {} fails with \"extension already exists\" when it runs again; write CREATE EXTENSION IF NOT EXISTS",
                s.extname
            ),
        ),
        NodeEnum::CreateTrigStmt(s) if !s.replace => create(
            Space::Trigger,
            s.trigname.clone(),
            format!(
                "CREATE TRIGGER {} fails with \"trigger already exists\" when it runs again; write CREATE OR REPLACE TRIGGER (PostgreSQL 14+) or DROP TRIGGER IF EXISTS first",
                s.trigname
            ),
        ),
        NodeEnum::AlterTableStmt(s) if s.objtype == ObjectType::ObjectTable as i32 => {
            alter_table(s, dropped, problems);
        }
        NodeEnum::AlterEnumStmt(s) => {
            let name = strings(&s.type_name).join(".");
            if !s.old_val.is_empty() {
                problems.push(format!(
                    "ALTER TYPE {name} RENAME VALUE '{}' fails when it runs again, because '{}' no longer exists; rename it in a DO block that checks pg_enum first",
                    s.old_val, s.old_val
                ));
            } else if !s.skip_if_new_val_exists {
                problems.push(format!(
                    "ALTER TYPE {name} ADD VALUE '{}' fails with \"already exists\" when it runs again; write ADD VALUE IF NOT EXISTS",
                    s.new_val
                ));
            }
        }
        NodeEnum::RenameStmt(s) => {
            if let Some(problem) = rename(s) {
                problems.push(problem);
            }
        }
        NodeEnum::DropStmt(s) => {
            let Ok(what) = ObjectType::try_from(s.remove_type) else {
                return;
            };
            let objects: Vec<Vec<String>> = s.objects.iter().map(names).collect();
            if s.missing_ok {
                if let Some(space) = space(what) {
                    dropped.extend(objects.iter().map(|n| (space, last(n))));
                }
            } else {
                let shown: Vec<String> = objects.iter().map(|n| n.join(".")).collect();
                let what = object_kind(what);
                problems.push(format!(
                    "DROP {what} {} fails with \"does not exist\" when it runs again; write DROP {what} IF EXISTS",
                    shown.join(", ")
                ));
            }
        }
        _ => {}
    }
}

fn alter_table(
    s: &AlterTableStmt,
    dropped: &mut HashSet<(Space, String)>,
    problems: &mut Vec<String>,
) {
    let table = relation_name(&s.relation);
    for cmd in &s.cmds {
        let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
            continue;
        };
        let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
        match AlterTableType::try_from(cmd.subtype) {
            Ok(AlterTableType::AtAddColumn) if !cmd.missing_ok => {
                if let Some(NodeEnum::ColumnDef(c)) = def {
                    problems.push(format!(
                        "ADD COLUMN {} fails with \"column already exists\" when it runs again; write ADD COLUMN IF NOT EXISTS",
                        c.colname
                    ));
                }
            }
            Ok(AlterTableType::AtAddConstraint) => {
                let Some(NodeEnum::Constraint(c)) = def else {
                    continue;
                };
                if c.conname.is_empty() {
                    problems.push(format!(
                        "ADD CONSTRAINT without a name adds one more copy of the constraint to {table} every time it runs (or fails, for a primary key); name it and drop it first with DROP CONSTRAINT IF EXISTS"
                    ));
                } else if !dropped.contains(&(Space::Constraint, c.conname.clone())) {
                    problems.push(format!(
                        "ADD CONSTRAINT {} fails with \"already exists\" when it runs again, and has no IF NOT EXISTS; drop it first with DROP CONSTRAINT IF EXISTS, or add it in a DO block that checks pg_constraint",
                        c.conname
                    ));
                }
            }
            Ok(AlterTableType::AtDropColumn) if !cmd.missing_ok => problems.push(format!(
                "DROP COLUMN {} fails with \"does not exist\" when it runs again; write DROP COLUMN IF EXISTS",
                cmd.name
            )),
            Ok(AlterTableType::AtDropConstraint) => {
                if cmd.missing_ok {
                    dropped.insert((Space::Constraint, cmd.name.clone()));
                } else {
                    problems.push(format!(
                        "DROP CONSTRAINT {} fails with \"does not exist\" when it runs again; write DROP CONSTRAINT IF EXISTS",
                        cmd.name
                    ));
                }
            }
            _ => {}
        }
    }
}

fn rename(s: &RenameStmt) -> Option<String> {
    let what = ObjectType::try_from(s.rename_type).ok()?;
    let relation = relation_name(&s.relation);
    let old = match what {
        ObjectType::ObjectColumn => format!("column {relation}.{}", s.subname),
        ObjectType::ObjectTabconstraint => format!("constraint {} of {relation}", s.subname),
        ObjectType::ObjectTable
        | ObjectType::ObjectView
        | ObjectType::ObjectMatview
        | ObjectType::ObjectIndex
        | ObjectType::ObjectSequence
        | ObjectType::ObjectForeignTable => {
            // ALTER TABLE IF EXISTS old RENAME TO new only notices the
            // second time.
            if s.missing_ok {
                return None;
            }
            format!("{} {relation}", object_kind(what).to_lowercase())
        }
        _ => {
            let name = s.object.as_deref().map(names).unwrap_or_default().join(".");
            let name = if name.is_empty() {
                s.subname.clone()
            } else {
                name
            };
            format!("{} {name}", object_kind(what).to_lowercase())
        }
    };
    Some(format!(
        "renaming {old} to {} fails when it runs again, because {old} no longer exists; rename in a DO block that checks the catalog first",
        s.newname
    ))
}

fn space(what: ObjectType) -> Option<Space> {
    Some(match what {
        ObjectType::ObjectTable
        | ObjectType::ObjectIndex
        | ObjectType::ObjectView
        | ObjectType::ObjectMatview
        | ObjectType::ObjectSequence
        | ObjectType::ObjectForeignTable => Space::Relation,
        ObjectType::ObjectType | ObjectType::ObjectDomain => Space::Type,
        ObjectType::ObjectFunction | ObjectType::ObjectProcedure | ObjectType::ObjectRoutine => {
            Space::Function
        }
        ObjectType::ObjectTrigger => Space::Trigger,
        ObjectType::ObjectSchema => Space::Schema,
        ObjectType::ObjectExtension => Space::Extension,
        _ => return None,
    })
}

/// "TABLE", "MATERIALIZED VIEW", ... as written after DROP.
fn object_kind(what: ObjectType) -> String {
    match what {
        ObjectType::ObjectMatview => "MATERIALIZED VIEW".to_string(),
        ObjectType::ObjectForeignTable => "FOREIGN TABLE".to_string(),
        ObjectType::ObjectTabconstraint => "CONSTRAINT".to_string(),
        other => other
            .as_str_name()
            .trim_start_matches("OBJECT_")
            .replace('_', " "),
    }
}

/// `tx-incompatible` (error): a statement that cannot run inside a
/// transaction block, in a migration that runs in one.
///
/// `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX ...
/// CONCURRENTLY`, `VACUUM`, `ALTER SYSTEM`, `CREATE`/`DROP DATABASE` and
/// `CREATE`/`DROP TABLESPACE` fail with "cannot run inside a transaction
/// block" when the runner wraps the migration in a transaction (the
/// default of every runner), and always inside a DO block, whose body runs
/// in the caller's transaction.
///
/// Also: `ALTER TYPE ... ADD VALUE 'v'` followed, in the same transaction,
/// by a statement that uses `'v'`. PostgreSQL 12 and later refuse that use
/// with "unsafe use of new value" until the transaction commits; before 12,
/// `ADD VALUE` could not run in a transaction block at all. A use is a
/// string constant equal to the new value.
///
/// A migration runs in a transaction unless its layout says otherwise
/// (`Migration::transaction`: sqlx `-- no-transaction`, dbmate
/// `transaction:false`, ...; plain files holding such a statement are run
/// the way psql runs them, outside one) or it manages its own with
/// BEGIN/COMMIT; then the statements between its own BEGIN and COMMIT
/// count.
///
/// Bad, in a transactional migration:
///
/// ```sql
/// CREATE INDEX CONCURRENTLY idx_jobs_chat_id ON jobs (chat_id);
///
/// ALTER TYPE job_state ADD VALUE IF NOT EXISTS 'archived';
/// UPDATE jobs SET state = 'archived' WHERE finished_at < now() - interval '1 year';
/// ```
///
/// Good: the index in a migration of its own that runs without a
/// transaction (for sqlx, a file starting with `-- no-transaction`), and
/// the use of the new value in a later migration.
///
/// ```sql
/// -- no-transaction
/// CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_chat_id ON jobs (chat_id);
/// ```
pub(super) fn tx_incompatible(set: &MigrationSet, units: &[Unit], hits: &mut Vec<Hit>) {
    for (m, migration) in set.migrations.iter().enumerate() {
        let controls = migration
            .up
            .statements
            .iter()
            .any(|s| s.tx == TxNeed::Control);
        // The one place that decides whether the runner wraps the file in a
        // transaction: what the layout says, unless the file manages its own
        // (then it is sent as it is, the way `runner` does).
        let mut in_tx = migration.transaction && !controls;
        // Enum values added in the open transaction: (value, type, where).
        let mut added: Vec<(String, String, usize)> = Vec::new();
        let mut reported = HashSet::new();
        for (i, unit) in units.iter().enumerate().filter(|(_, u)| u.migration == m) {
            if let NodeEnum::TransactionStmt(t) = &unit.node {
                match TransactionStmtKind::try_from(t.kind) {
                    Ok(
                        TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart,
                    ) => {
                        in_tx = true;
                    }
                    Ok(
                        TransactionStmtKind::TransStmtCommit
                        | TransactionStmtKind::TransStmtRollback
                        | TransactionStmtKind::TransStmtPrepare,
                    ) => {
                        in_tx = false;
                        added.clear();
                    }
                    _ => {}
                }
                continue;
            }
            if unit.tx == TxNeed::NoTransaction
                && let Some(what) = refuses_transaction(&unit.node)
            {
                let message = if unit.in_do {
                    Some(format!(
                        "{what} cannot run inside a DO block, whose body always runs in a transaction; move it out of the DO block into a migration that runs without a transaction"
                    ))
                } else if in_tx {
                    Some(format!(
                        "{what} cannot run inside a transaction block, and {} runs in one; move it into a migration of its own that the runner applies without a transaction",
                        migration.name
                    ))
                } else {
                    None
                };
                if let Some(message) = message {
                    hits.push(Hit {
                        kind: Kind::TxIncompatible,
                        unit: i,
                        offset: unit.base,
                        message,
                        missing: None,
                        assumed: false,
                    });
                }
            }
            if !in_tx {
                continue;
            }
            for (value, location) in string_consts(&unit.node) {
                let Some((_, type_name, at)) = added.iter().find(|(v, ..)| *v == value) else {
                    continue;
                };
                if !reported.insert((i, value.clone())) {
                    continue;
                }
                let (line, column) = migration.up.line_column(*at);
                hits.push(Hit {
                    kind: Kind::TxIncompatible,
                    unit: i,
                    offset: unit.offset(location),
                    message: format!(
                        "'{value}' is added to type {type_name} at {}:{line}:{column} in the same transaction; PostgreSQL refuses to use a new enum value before the transaction that added it commits (\"unsafe use of new value\"); use it in a later migration",
                        migration.name
                    ),
                    missing: None,
            assumed: false,
                });
            }
            if let NodeEnum::AlterEnumStmt(s) = &unit.node
                && s.old_val.is_empty()
                && !s.new_val.is_empty()
            {
                added.push((
                    s.new_val.clone(),
                    strings(&s.type_name).join("."),
                    unit.base,
                ));
            }
        }
    }
}

/// What a statement that cannot run in a transaction block is, for
/// messages; `None` for one that can after all (`ANALYZE`).
fn refuses_transaction(node: &NodeEnum) -> Option<&'static str> {
    Some(match node {
        NodeEnum::IndexStmt(s) if s.concurrent => "CREATE INDEX CONCURRENTLY",
        NodeEnum::DropStmt(s) if s.concurrent => "DROP INDEX CONCURRENTLY",
        NodeEnum::ReindexStmt(_) => "REINDEX CONCURRENTLY",
        // ANALYZE alone is allowed in a transaction block.
        NodeEnum::VacuumStmt(s) if !s.is_vacuumcmd => return None,
        NodeEnum::VacuumStmt(_) => "VACUUM",
        NodeEnum::AlterSystemStmt(_) => "ALTER SYSTEM",
        NodeEnum::CreatedbStmt(_) => "CREATE DATABASE",
        NodeEnum::DropdbStmt(_) => "DROP DATABASE",
        NodeEnum::CreateTableSpaceStmt(_) => "CREATE TABLESPACE",
        NodeEnum::DropTableSpaceStmt(_) => "DROP TABLESPACE",
        _ => "this statement",
    })
}
