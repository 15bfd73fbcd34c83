//! `index-before-column` (error): a statement refers to a column that, at
//! that point of the set, only *may* exist.
//!
//! On an old database a table often exists already, created by hand or by
//! an earlier version of the migration, without the columns added to its
//! `CREATE TABLE` since. `CREATE TABLE IF NOT EXISTS` then does nothing,
//! and the first statement that uses a new column fails there, while every
//! test on an empty database passes.
//!
//! Bad: on a database whose `jobs` predates `chat_id`, the index fails with
//! `column "chat_id" does not exist`.
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS jobs (
//!     id      bigserial PRIMARY KEY,
//!     user_id bigint NOT NULL,
//!     chat_id bigint
//! );
//! CREATE INDEX IF NOT EXISTS idx_jobs_chat_id ON jobs (chat_id);
//! ```
//!
//! Good: the column is guaranteed before it is used.
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS jobs (
//!     id      bigserial PRIMARY KEY,
//!     user_id bigint NOT NULL,
//!     chat_id bigint
//! );
//! ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id bigint;
//! CREATE INDEX IF NOT EXISTS idx_jobs_chat_id ON jobs (chat_id);
//! ```
//!
//! The set is walked in order, keeping for each table (schema-qualified,
//! the search path taken to be `public`) which columns *must* exist and
//! which only *may*.
//!
//! A column **must** exist after a plain `CREATE TABLE` (without `IF NOT
//! EXISTS`), after `ALTER TABLE ... ADD COLUMN [IF NOT EXISTS]` outside any
//! condition, and after either inside a DO block branch that runs exactly
//! when the object is missing (`IF NOT EXISTS (SELECT ... 'chat_id')`, the
//! ELSE of `IF EXISTS`, a block that catches the "already exists" error).
//!
//! A column only **may** exist when it was created by:
//! - `CREATE TABLE IF NOT EXISTS t` (or its DO-block equivalent) while `t`
//!   may already exist, that is, unless `t` was created by a plain
//!   `CREATE TABLE` earlier in the set (then the statement does nothing at
//!   all) or dropped earlier (then it surely creates `t`).
//!
//!   Under a `tracked` runner every migration runs once, so `t` can exist
//!   before the set creates it only if something outside the set created
//!   it. Only a known state (`Known`: a scenario's legacy state, a past
//!   version of the set) shows that: the columns its `t` lacks only may
//!   exist, the others must. Without one, the statement is taken to create
//!   `t`, and a note lists the tables taken so, for whoever knows better.
//!
//!   Under `rerun-all`, `t` may be an older version of itself. Which columns an
//!   old `t` lacks cannot be known from the SQL; lint takes columns
//!   declared `PRIMARY KEY`, serial, identity, or `NOT NULL` without a
//!   default to belong to the table's first version (a later one would
//!   need a backfill on a populated table), and nullable columns to be
//!   ones that may have been added since. A `NOT NULL` column with a
//!   default may have been added since too (that is how one is added to a
//!   populated table), but only a run can tell: a finding about one is a
//!   warning that names the assumption, and an error once `check` or
//!   `verify` confirm it from the state it predicts;
//! - `CREATE TABLE` or `ADD COLUMN` in a DO block under a condition that is
//!   not about that object (`IF current_setting(...)`, a loop, a CASE, an
//!   exception handler): the branch may not run at all.
//!
//! References judged: `CREATE INDEX` (columns, expressions, `INCLUDE`,
//! `WHERE`), `ADD CONSTRAINT` (primary key, unique, check, exclusion, both
//! sides of a foreign key, also foreign keys declared in `CREATE TABLE` and
//! `ADD COLUMN`), `ALTER COLUMN`, `RENAME COLUMN`, `CREATE VIEW` and
//! `CREATE MATERIALIZED VIEW`/`CREATE TABLE AS` queries, `CREATE TRIGGER
//! ... OF` and `WHEN`, `COMMENT ON COLUMN`, `UPDATE` (SET, FROM, WHERE),
//! `INSERT` (column list, ON CONFLICT, SELECT), `DELETE` (USING, WHERE).
//!
//! Nothing is said about columns lint knows nothing of: those of tables the
//! set never creates or alters, or columns the set never mentions (a
//! reference to those fails on a fresh database, which the `fresh` check
//! reports).

use std::collections::{BTreeSet, HashMap, HashSet};

use pg_query::NodeEnum;
use pg_query::protobuf::{
    AlterTableCmd, AlterTableStmt, AlterTableType, ColumnDef, ConstrType, Constraint, CreateStmt,
    IndexElem, IndexStmt, Node, ObjectType, RenameStmt,
};

use super::known::{self, Tables};
use super::plpgsql::Cond;
use super::{
    ColRef, Hit, Premises, Table, Unit, column_refs, find_name, names, range_vars, strings,
};
use crate::finding::Kind;
use crate::migrations::MigrationSet;
use crate::runner::RunnerMode;

/// Adds an `index-before-column` hit for every reference to a column that
/// only may exist at that point; returns the notes of what it took for
/// granted.
pub(super) fn check(
    set: &MigrationSet,
    units: &[Unit],
    premises: Premises,
    hits: &mut Vec<Hit>,
) -> Vec<String> {
    let mut columns = Columns {
        set,
        premises,
        known: None,
        tables: HashMap::new(),
        reported: HashSet::new(),
        outside: BTreeSet::new(),
        hits,
    };
    for (i, unit) in units.iter().enumerate() {
        columns.unit(i, unit);
    }
    outside_note(&columns.outside).into_iter().collect()
}

/// The note for the tables a tracked set was taken to create, of which a
/// later statement uses a column an older table may lack.
fn outside_note(tables: &BTreeSet<Table>) -> Option<String> {
    const LISTED: usize = 5;
    let names: Vec<String> = tables.iter().take(LISTED).map(Table::to_string).collect();
    let more = match tables.len().saturating_sub(LISTED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    (!tables.is_empty()).then(|| {
        format!(
            "lint: the tracked runner runs each migration once, so CREATE TABLE IF NOT EXISTS was taken to create {}{more}; if one was created outside this set, later statements use columns that an older one may lack: add such a database as a legacy state (--legacy FILE.sql, or legacy: in a scenario) and lint checks them",
            names.join(", ")
        )
    })
}

/// How a table came to be known.
enum Created {
    /// By a plain `CREATE TABLE` at this place: afterwards the table exists
    /// with exactly its columns, on every database.
    Surely(String),
    /// By a guarded or conditional creation: it may have existed before,
    /// with other columns.
    Maybe,
    /// Dropped: it exists on no database.
    Dropped,
    /// Only altered, never created by the set.
    Altered,
}

enum Col {
    Must,
    /// Exists unless its table was created outside the set, which nothing
    /// shows: a column of a table that a tracked set creates with `CREATE
    /// TABLE IF NOT EXISTS`, not of the table's first version.
    Outside,
    /// Only may exist; the note completes "column t.c ..." in a finding.
    May {
        note: String,
        branch: Option<Branch>,
        /// Only lint's assumption says it may be missing (a NOT NULL
        /// column with a default, of a table that may be older).
        assumed: bool,
    },
}

/// The DO-block branch a conditional creation happened in: later
/// statements of that branch run only where it did, so there the column
/// exists.
#[derive(Clone, PartialEq, Eq)]
struct Branch {
    migration: usize,
    statement: usize,
    conds: Vec<usize>,
}

impl Branch {
    /// The branch of a creation that `when` says only may happen.
    fn of(unit: &Unit) -> Option<Branch> {
        (!unit.conds.is_empty()).then(|| Branch {
            migration: unit.migration,
            statement: unit.statement,
            conds: unit.conds.iter().map(|c| c.id).collect(),
        })
    }

    fn contains(&self, unit: &Unit) -> bool {
        self.migration == unit.migration
            && self.statement == unit.statement
            && unit.conds.len() >= self.conds.len()
            && unit
                .conds
                .iter()
                .zip(&self.conds)
                .all(|(c, id)| c.id == *id)
    }
}

impl Col {
    /// Exists, as far as the set and its runner show.
    fn sure(&self) -> bool {
        matches!(self, Col::Must | Col::Outside)
    }
}

struct TableState {
    created: Created,
    columns: HashMap<String, Col>,
}

/// Where a statement's DO-block conditions leave what it creates.
enum When<'u> {
    /// No condition.
    Always,
    /// Only conditions that run it exactly when the object is missing:
    /// like `IF NOT EXISTS`. The innermost one.
    IfAbsent(&'u Cond),
    /// A condition that may skip it.
    Maybe(&'u Cond),
}

fn when<'u>(unit: &'u Unit, name: &str) -> When<'u> {
    if let Some(cond) = unit.conds.iter().find(|c| !c.creates_if_absent(name)) {
        When::Maybe(cond)
    } else if let Some(cond) = unit.conds.last() {
        When::IfAbsent(cond)
    } else {
        When::Always
    }
}

struct Columns<'a> {
    set: &'a MigrationSet,
    premises: Premises<'a>,
    /// The tables of each of `premises.known`, read when first needed.
    known: Option<Vec<Tables>>,
    tables: HashMap<Table, TableState>,
    /// (unit, table, column) already reported: one finding per column and
    /// statement, however often the statement mentions it.
    reported: HashSet<(usize, Table, String)>,
    /// Tables with a `Col::Outside` column that a statement used.
    outside: BTreeSet<Table>,
    hits: &'a mut Vec<Hit>,
}

impl Columns<'_> {
    fn unit(&mut self, i: usize, unit: &Unit) {
        match &unit.node {
            NodeEnum::CreateStmt(s) => self.create_table(i, unit, s),
            NodeEnum::AlterTableStmt(s) if s.objtype == ObjectType::ObjectTable as i32 => {
                self.alter_table(i, unit, s);
            }
            NodeEnum::RenameStmt(s) => self.rename(i, unit, s),
            NodeEnum::DropStmt(s) if s.remove_type == ObjectType::ObjectTable as i32 => {
                for object in &s.objects {
                    let table = Table::from_names(&names(object));
                    if unit.conds.is_empty() {
                        let state = TableState {
                            created: Created::Dropped,
                            columns: HashMap::new(),
                        };
                        self.tables.insert(table, state);
                    } else {
                        // Maybe dropped: nothing is known any more.
                        self.tables.remove(&table);
                    }
                }
            }
            NodeEnum::IndexStmt(s) => self.index(i, unit, s),
            NodeEnum::ViewStmt(s) => {
                if let Some(query) = &s.query {
                    self.scoped_refs(i, unit, &range_vars(query), query);
                }
            }
            NodeEnum::CreateTableAsStmt(s) => {
                if let Some(query) = &s.query {
                    self.scoped_refs(i, unit, &range_vars(query), query);
                }
            }
            NodeEnum::CreateTrigStmt(s) => {
                let Some(relation) = &s.relation else { return };
                let table = Table::of(relation);
                // `UPDATE OF a, b`: the names follow the OF.
                let mut cursor = find_name(&unit.sql, 0, "of").unwrap_or(0);
                for column in strings(&s.columns) {
                    cursor = self.name_ref(i, unit, &table, &column, cursor) + 1;
                }
                if let Some(when) = &s.when_clause {
                    let scope = [
                        (table.clone(), Some("new".to_string())),
                        (table.clone(), Some("old".to_string())),
                    ];
                    self.scoped_refs(i, unit, &scope, when);
                }
            }
            NodeEnum::CommentStmt(s) if s.objtype == ObjectType::ObjectColumn as i32 => {
                let Some(object) = &s.object else { return };
                let names = names(object);
                let Some((column, relation)) = names.split_last() else {
                    return;
                };
                let table = Table::from_names(relation);
                // The column's name follows the table's.
                let from = find_name(&unit.sql, 0, &table.name).map_or(0, |at| at + 1);
                self.name_ref(i, unit, &table, column, from);
            }
            NodeEnum::UpdateStmt(s) => {
                let Some(relation) = &s.relation else { return };
                let table = Table::of(relation);
                let mut scope = vec![(table.clone(), alias(relation))];
                scope.extend(range_vars(&s.from_clause));
                for target in &s.target_list {
                    if let Some(NodeEnum::ResTarget(r)) = &target.node {
                        self.refer(i, unit, &table, &r.name, offset(r.location));
                        self.scoped_refs(i, unit, &scope, &r.val);
                    }
                }
                self.scoped_refs(i, unit, &scope, &s.from_clause);
                self.scoped_refs(i, unit, &scope, &s.where_clause);
            }
            NodeEnum::InsertStmt(s) => {
                let Some(relation) = &s.relation else { return };
                let table = Table::of(relation);
                for column in &s.cols {
                    if let Some(NodeEnum::ResTarget(r)) = &column.node {
                        self.refer(i, unit, &table, &r.name, offset(r.location));
                    }
                }
                if let Some(conflict) = &s.on_conflict_clause {
                    if let Some(infer) = &conflict.infer {
                        let mut cursor = offset(infer.location);
                        for elem in &infer.index_elems {
                            if let Some(NodeEnum::IndexElem(e)) = &elem.node {
                                cursor = self.index_elem(i, unit, &table, e, cursor);
                            }
                        }
                    }
                    let scope = [
                        (table.clone(), alias(relation)),
                        (table.clone(), Some("excluded".to_string())),
                    ];
                    for target in &conflict.target_list {
                        if let Some(NodeEnum::ResTarget(r)) = &target.node {
                            self.refer(i, unit, &table, &r.name, offset(r.location));
                            self.scoped_refs(i, unit, &scope, &r.val);
                        }
                    }
                    self.scoped_refs(i, unit, &scope, &conflict.where_clause);
                }
                if let Some(select) = &s.select_stmt {
                    self.scoped_refs(i, unit, &range_vars(select), select);
                }
            }
            NodeEnum::DeleteStmt(s) => {
                let Some(relation) = &s.relation else { return };
                let mut scope = vec![(Table::of(relation), alias(relation))];
                scope.extend(range_vars(&s.using_clause));
                self.scoped_refs(i, unit, &scope, &s.using_clause);
                self.scoped_refs(i, unit, &scope, &s.where_clause);
            }
            _ => {}
        }
    }

    fn create_table(&mut self, i: usize, unit: &Unit, s: &CreateStmt) {
        let Some(relation) = &s.relation else { return };
        let table = Table::of(relation);
        // The columns made here: name, file offset, and whether it is taken
        // to belong to the table's first version.
        let mut made = Vec::new();
        let mut primary_key = HashSet::new();
        for element in &s.table_elts {
            match &element.node {
                Some(NodeEnum::ColumnDef(c)) => {
                    for constraint in constraints(&c.constraints) {
                        self.foreign_key_target(i, unit, Some(&table), constraint);
                    }
                    made.push((c.colname.clone(), unit.offset(c.location), first_version(c)));
                }
                Some(NodeEnum::Constraint(constraint)) => {
                    if constraint.contype == ConstrType::ConstrPrimary as i32 {
                        primary_key.extend(strings(&constraint.keys));
                    }
                    // The table's own columns are made by this statement;
                    // only another table's can be missing.
                    self.foreign_key_target(i, unit, Some(&table), constraint);
                }
                _ => {}
            }
        }
        let here = self.place(unit, unit.base);
        let (before, mut columns) = match self.tables.remove(&table) {
            Some(state) => (Some(state.created), state.columns),
            None => (None, HashMap::new()),
        };
        let created = match (when(unit, &table.name), s.if_not_exists) {
            (When::Always, false) => {
                columns = made.iter().map(|(c, ..)| (c.clone(), Col::Must)).collect();
                Created::Surely(here)
            }
            (When::Maybe(cond), _) => {
                let why = format!(
                    "{} at {} may skip creating {table}",
                    cond.what(),
                    self.place(unit, cond.at)
                );
                for (name, at, _) in &made {
                    let note = format!(
                        "is only created conditionally at {} ({why})",
                        self.place(unit, *at)
                    );
                    may(&mut columns, name, note, Branch::of(unit));
                }
                match before {
                    Some(Created::Surely(at)) => Created::Surely(at),
                    _ => Created::Maybe,
                }
            }
            // IF NOT EXISTS, or a branch that runs when the table is missing.
            (if_absent, _) => match before {
                Some(Created::Dropped) => {
                    columns = made.iter().map(|(c, ..)| (c.clone(), Col::Must)).collect();
                    Created::Surely(here)
                }
                Some(Created::Surely(at)) => {
                    for (name, ..) in &made {
                        let note = format!(
                            "is never created: {table} already exists (created at {at}), so the CREATE TABLE at {here} does nothing"
                        );
                        may(&mut columns, name, note, None);
                    }
                    Created::Surely(at)
                }
                None if self.premises.runner == RunnerMode::Tracked => {
                    let older = self.older(unit, &table);
                    if older.is_empty() {
                        for (name, _, version) in &made {
                            let first =
                                primary_key.contains(name) || matches!(version, Version::First);
                            let col = if first { Col::Must } else { Col::Outside };
                            columns.insert(name.clone(), col);
                        }
                        Created::Surely(here)
                    } else {
                        let why = self.if_absent_why(unit, &if_absent, &table);
                        for (name, at, _) in &made {
                            let Some((state, _)) = older.iter().find(|(_, o)| !o.contains(name))
                            else {
                                columns.insert(name.clone(), Col::Must);
                                continue;
                            };
                            let note = format!(
                                "is only created conditionally at {} ({why}, and legacy state \"{state}\" has a {table} without it); add it with `ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} ...` before using it",
                                self.place(unit, *at)
                            );
                            may(&mut columns, name, note, Branch::of(unit));
                        }
                        Created::Maybe
                    }
                }
                _ => {
                    let why = self.if_absent_why(unit, &if_absent, &table);
                    for (name, at, version) in &made {
                        let assumed = match version {
                            _ if primary_key.contains(name) => {
                                columns.insert(name.clone(), Col::Must);
                                continue;
                            }
                            Version::First => {
                                columns.insert(name.clone(), Col::Must);
                                continue;
                            }
                            Version::Assumed => true,
                            Version::Later => false,
                        };
                        let why = match assumed {
                            true => format!(
                                "{why}, and an older {table} lacks it if it was added after the table's first version, as NOT NULL columns with a default can be"
                            ),
                            false => why.clone(),
                        };
                        let note = format!(
                            "is only created conditionally at {} ({why}); add it with `ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} ...` before using it",
                            self.place(unit, *at)
                        );
                        may_be(&mut columns, name, note, Branch::of(unit), assumed);
                    }
                    Created::Maybe
                }
            },
        };
        self.tables.insert(table, TableState { created, columns });
    }

    /// Why a creation only when `table` is missing may leave its columns
    /// out.
    fn if_absent_why(&self, unit: &Unit, if_absent: &When, table: &Table) -> String {
        match if_absent {
            When::IfAbsent(cond) => format!(
                "{} at {} creates {table} only when it does not exist yet",
                cond.what(),
                self.place(unit, cond.at)
            ),
            _ => format!("CREATE TABLE IF NOT EXISTS does nothing when {table} already exists"),
        }
    }

    /// The known states that hold `table` already when the migration of
    /// `unit` runs on them (those that record it as run never run it),
    /// each with the columns its `table` has.
    fn older(&mut self, unit: &Unit, table: &Table) -> Vec<(String, HashSet<String>)> {
        let known = self.premises.known;
        let tables = self
            .known
            .get_or_insert_with(|| known.iter().map(known::tables).collect());
        let version = self.set.migrations[unit.migration].version.as_str();
        known
            .iter()
            .zip(tables.iter())
            .filter(|(k, _)| !k.recorded.contains(&version))
            .filter_map(|(k, tables)| Some((k.name.to_string(), tables.get(table)?.clone())))
            .collect()
    }

    fn alter_table(&mut self, i: usize, unit: &Unit, s: &AlterTableStmt) {
        let Some(relation) = &s.relation else { return };
        let table = Table::of(relation);
        // Commands carry no locations; names are searched from here on.
        let mut cursor = offset(relation.location);
        for cmd in &s.cmds {
            let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
                continue;
            };
            let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
            let Ok(subtype) = AlterTableType::try_from(cmd.subtype) else {
                continue;
            };
            match subtype {
                AlterTableType::AtAddColumn => {
                    if let Some(NodeEnum::ColumnDef(c)) = def {
                        cursor = offset(c.location);
                        self.add_column(i, unit, &table, c);
                    }
                }
                AlterTableType::AtAddConstraint => {
                    if let Some(NodeEnum::Constraint(c)) = def {
                        self.constraint(i, unit, &table, c, None);
                    }
                }
                AlterTableType::AtDropColumn => self.drop_column(unit, &table, cmd),
                AlterTableType::AtColumnDefault
                | AlterTableType::AtDropNotNull
                | AlterTableType::AtSetNotNull
                | AlterTableType::AtSetExpression
                | AlterTableType::AtDropExpression
                | AlterTableType::AtSetStatistics
                | AlterTableType::AtSetOptions
                | AlterTableType::AtResetOptions
                | AlterTableType::AtSetStorage
                | AlterTableType::AtSetCompression
                | AlterTableType::AtAlterColumnType
                | AlterTableType::AtAddIdentity
                | AlterTableType::AtSetIdentity
                | AlterTableType::AtDropIdentity => {
                    cursor = self.name_ref(i, unit, &table, &cmd.name, cursor) + 1;
                }
                _ => {}
            }
        }
    }

    fn add_column(&mut self, i: usize, unit: &Unit, table: &Table, c: &ColumnDef) {
        // Its own constraints refer to it, being added; others' columns
        // (a foreign key's target, a CHECK on two columns) may be missing.
        for constraint in constraints(&c.constraints) {
            self.constraint(i, unit, table, constraint, Some(&c.colname));
        }
        let note = match when(unit, &c.colname) {
            When::Maybe(cond) => Some(format!(
                "is only added conditionally at {} (inside {} at {}); add it unconditionally with `ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {} ...` before using it",
                self.place(unit, unit.offset(c.location)),
                cond.what(),
                self.place(unit, cond.at),
                c.colname,
            )),
            When::Always | When::IfAbsent(_) => None,
        };
        let state = self
            .tables
            .entry(table.clone())
            .or_insert_with(|| TableState {
                created: Created::Altered,
                columns: HashMap::new(),
            });
        match note {
            Some(note) => may(&mut state.columns, &c.colname, note, Branch::of(unit)),
            None => {
                state.columns.insert(c.colname.clone(), Col::Must);
            }
        }
    }

    fn drop_column(&mut self, unit: &Unit, table: &Table, cmd: &AlterTableCmd) {
        let note = unit.conds.first().map(|cond| {
            format!(
                "may have been dropped at {} (inside {} at {})",
                self.place(unit, unit.base),
                cond.what(),
                self.place(unit, cond.at)
            )
        });
        let Some(state) = self.tables.get_mut(table) else {
            return;
        };
        match note {
            None => {
                state.columns.remove(&cmd.name);
            }
            Some(note) => {
                if state.columns.contains_key(&cmd.name) {
                    let may = Col::May {
                        note,
                        branch: None,
                        assumed: false,
                    };
                    state.columns.insert(cmd.name.clone(), may);
                }
            }
        }
    }

    fn rename(&mut self, i: usize, unit: &Unit, s: &RenameStmt) {
        let Some(relation) = &s.relation else { return };
        let table = Table::of(relation);
        match ObjectType::try_from(s.rename_type) {
            Ok(ObjectType::ObjectColumn) => {
                self.name_ref(i, unit, &table, &s.subname, offset(relation.location));
                if let Some(state) = self.tables.get_mut(&table)
                    && let Some(column) = state.columns.remove(&s.subname)
                {
                    state.columns.insert(s.newname.clone(), column);
                }
            }
            Ok(ObjectType::ObjectTable) => {
                if let Some(state) = self.tables.remove(&table) {
                    let renamed = Table {
                        schema: table.schema,
                        name: s.newname.clone(),
                    };
                    self.tables.insert(renamed, state);
                }
            }
            _ => {}
        }
    }

    fn index(&mut self, i: usize, unit: &Unit, s: &IndexStmt) {
        let Some(relation) = &s.relation else { return };
        let table = Table::of(relation);
        let mut cursor = offset(relation.location);
        for param in s.index_params.iter().chain(&s.index_including_params) {
            if let Some(NodeEnum::IndexElem(e)) = &param.node {
                cursor = self.index_elem(i, unit, &table, e, cursor);
            }
        }
        self.table_refs(i, unit, &table, &s.where_clause);
    }

    /// A column or expression of an index, an ON CONFLICT target or an
    /// exclusion constraint; returns where to search for the next name.
    fn index_elem(
        &mut self,
        i: usize,
        unit: &Unit,
        table: &Table,
        e: &IndexElem,
        cursor: usize,
    ) -> usize {
        if !e.name.is_empty() {
            return self.name_ref(i, unit, table, &e.name, cursor) + 1;
        }
        self.table_refs(i, unit, table, &e.expr);
        cursor
    }

    /// The columns a constraint uses. `skip` is the column an `ADD COLUMN`
    /// is adding, which its own constraints may use.
    fn constraint(
        &mut self,
        i: usize,
        unit: &Unit,
        table: &Table,
        c: &Constraint,
        skip: Option<&str>,
    ) {
        let from = offset(c.location);
        let own = |this: &mut Self, name: &str, cursor: usize| {
            if skip == Some(name) {
                cursor
            } else {
                this.name_ref(i, unit, table, name, cursor) + 1
            }
        };
        match ConstrType::try_from(c.contype) {
            Ok(ConstrType::ConstrPrimary | ConstrType::ConstrUnique) => {
                let mut cursor = from;
                for name in strings(&c.keys).iter().chain(&strings(&c.including)) {
                    cursor = own(self, name, cursor);
                }
            }
            Ok(ConstrType::ConstrForeign) => {
                let mut cursor = from;
                for name in strings(&c.fk_attrs) {
                    cursor = own(self, &name, cursor);
                }
                self.foreign_key_target(i, unit, None, c);
            }
            Ok(ConstrType::ConstrCheck) => {
                for r in column_refs(&c.raw_expr) {
                    if let Some(name) = r.names.last()
                        && skip != Some(name.as_str())
                    {
                        self.refer(i, unit, table, name, offset(r.location));
                    }
                }
            }
            Ok(ConstrType::ConstrExclusion) => {
                let mut cursor = from;
                for exclusion in &c.exclusions {
                    let Some(NodeEnum::List(pair)) = &exclusion.node else {
                        continue;
                    };
                    for item in &pair.items {
                        if let Some(NodeEnum::IndexElem(e)) = &item.node {
                            cursor = self.index_elem(i, unit, table, e, cursor);
                        }
                    }
                }
                self.table_refs(i, unit, table, &c.where_clause);
            }
            _ => {}
        }
    }

    /// The referenced columns of a foreign key, unless they are those of
    /// `creating`, the table whose CREATE TABLE declares the key.
    fn foreign_key_target(
        &mut self,
        i: usize,
        unit: &Unit,
        creating: Option<&Table>,
        c: &Constraint,
    ) {
        if c.contype != ConstrType::ConstrForeign as i32 {
            return;
        }
        let Some(target) = &c.pktable else { return };
        let target_table = Table::of(target);
        if creating == Some(&target_table) {
            return;
        }
        let mut cursor = offset(target.location);
        for name in strings(&c.pk_attrs) {
            cursor = self.name_ref(i, unit, &target_table, &name, cursor) + 1;
        }
    }

    /// Column references of an expression over one table (index
    /// expressions and predicates, CHECK).
    fn table_refs(&mut self, i: usize, unit: &Unit, table: &Table, node: &Option<Box<Node>>) {
        for r in column_refs(node) {
            if let Some(name) = r.names.last() {
                self.refer(i, unit, table, name, offset(r.location));
            }
        }
    }

    /// Column references of a query or expression, resolved against the
    /// tables in `scope` (with their aliases).
    fn scoped_refs(
        &mut self,
        i: usize,
        unit: &Unit,
        scope: &[(Table, Option<String>)],
        node: &impl serde::Serialize,
    ) {
        for r in column_refs(node) {
            if let Some(table) = self.resolve(scope, &r) {
                let name = r.names.last().map(String::as_str).unwrap_or_default();
                self.refer(i, unit, &table, name, offset(r.location));
            }
        }
    }

    /// The table a column reference is about, if lint tracks it.
    fn resolve(&self, scope: &[(Table, Option<String>)], r: &ColRef) -> Option<Table> {
        let (column, qualifier) = r.names.split_last()?;
        match qualifier {
            [] => {
                // Unqualified: a table of the scope that has the column. If
                // one of them surely has it, the reference is fine.
                let tracking: Vec<&Table> = scope
                    .iter()
                    .map(|(t, _)| t)
                    .filter(|t| self.column(t, column).is_some())
                    .collect();
                if tracking
                    .iter()
                    .any(|t| self.column(t, column).is_some_and(Col::sure))
                {
                    return None;
                }
                tracking.first().map(|t| (*t).clone())
            }
            [.., qualifier] => scope
                .iter()
                .find(|(t, alias)| match alias {
                    Some(alias) => alias == qualifier,
                    None => t.name == *qualifier,
                })
                .map(|(t, _)| t.clone()),
        }
    }

    fn column(&self, table: &Table, column: &str) -> Option<&Col> {
        self.tables.get(table)?.columns.get(column)
    }

    /// A reference by name to `column` of `table`, searched in the text from
    /// `from`; returns where the name was found (or `from`).
    fn name_ref(
        &mut self,
        i: usize,
        unit: &Unit,
        table: &Table,
        column: &str,
        from: usize,
    ) -> usize {
        let at = find_name(&unit.sql, from, column).unwrap_or(from);
        self.refer(i, unit, table, column, at);
        at
    }

    /// Reports a reference at byte `at` of the unit's text to a column that
    /// only may exist.
    fn refer(&mut self, i: usize, unit: &Unit, table: &Table, column: &str, at: usize) {
        let (note, branch, assumed) = match self.column(table, column) {
            Some(Col::May {
                note,
                branch,
                assumed,
            }) => (note, branch, assumed),
            Some(Col::Outside) => {
                self.outside.insert(table.clone());
                return;
            }
            Some(Col::Must) | None => return,
        };
        let assumed = *assumed;
        if branch.as_ref().is_some_and(|b| b.contains(unit)) {
            return;
        }
        let message = format!("column {table}.{column} {note}");
        if self.reported.insert((i, table.clone(), column.to_string())) {
            self.hits.push(Hit {
                kind: Kind::IndexBeforeColumn,
                unit: i,
                offset: unit.base + at,
                message,
                missing: Some((table.clone(), column.to_string())),
                assumed,
            });
        }
    }

    /// "file:line:column" of a byte offset in the unit's file.
    fn place(&self, unit: &Unit, offset: usize) -> String {
        let migration = &self.set.migrations[unit.migration];
        let (line, column) = migration.up.line_column(offset);
        format!("{}:{line}:{column}", migration.name)
    }
}

/// Marks a column as only maybe existing, unless it surely exists.
fn may(columns: &mut HashMap<String, Col>, name: &str, note: String, branch: Option<Branch>) {
    may_be(columns, name, note, branch, false);
}

fn may_be(
    columns: &mut HashMap<String, Col>,
    name: &str,
    note: String,
    branch: Option<Branch>,
    assumed: bool,
) {
    if !columns.get(name).is_some_and(Col::sure) {
        let may = Col::May {
            note,
            branch,
            assumed,
        };
        columns.insert(name.to_string(), may);
    }
}

/// Whether a column of a table that may already exist belongs to the
/// table's first version.
enum Version {
    /// Primary key, identity, serial, or NOT NULL without a default: a
    /// later one would need a backfill on a populated table.
    First,
    /// NOT NULL with a default: `ADD COLUMN placed_at timestamptz NOT
    /// NULL DEFAULT now()` is how such a column gets added to a populated
    /// table, so an older table may lack it; but only a run from that
    /// older table can tell, so a finding that rests on it is a warning
    /// until a run confirms it.
    Assumed,
    /// Nullable: the columns that get added since.
    Later,
}

fn first_version(c: &ColumnDef) -> Version {
    let has = |kind: ConstrType| constraints(&c.constraints).any(|k| k.contype == kind as i32);
    let serial = c.type_name.as_ref().is_some_and(|t| {
        strings(&t.names).last().is_some_and(|n| {
            matches!(
                n.as_str(),
                "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8"
            )
        })
    });
    let not_null = c.is_not_null || has(ConstrType::ConstrNotnull);
    let default = has(ConstrType::ConstrDefault) || c.raw_default.is_some();
    if has(ConstrType::ConstrPrimary) || has(ConstrType::ConstrIdentity) || serial {
        Version::First
    } else if not_null && default {
        Version::Assumed
    } else if not_null {
        Version::First
    } else {
        Version::Later
    }
}

fn constraints(nodes: &[Node]) -> impl Iterator<Item = &Constraint> {
    nodes.iter().filter_map(|n| match &n.node {
        Some(NodeEnum::Constraint(c)) => Some(c.as_ref()),
        _ => None,
    })
}

fn alias(relation: &pg_query::protobuf::RangeVar) -> Option<String> {
    relation.alias.as_ref().map(|a| a.aliasname.clone())
}

/// A parser location as an offset in the statement; -1 (none) as 0.
fn offset(location: i32) -> usize {
    usize::try_from(location).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    //! The column walk on small in-memory sets: the `index-before-column`
    //! findings (`file:line:column message`) and, under each, the state it
    //! predicts fails. Other kinds are `statements.rs`'s and left out.
    //! After an intended change, `UPDATE_EXPECT=1 cargo test -p migcheck
    //! --lib lint::columns` rewrites the snapshots; review the diff.

    use std::path::PathBuf;

    use expect_test::{Expect, expect};

    use crate::finding::Kind;
    use crate::lint::{Known, Linted, Premises, lint_with_predictions};
    use crate::migrations::{Format, Migration, MigrationSet, Script};
    use crate::runner::RunnerMode;

    /// A plain set of `(file name, SQL)`, parsed as the loader would,
    /// without files.
    fn set(files: &[(&str, &str)]) -> MigrationSet {
        let migrations = files
            .iter()
            .map(|(name, sql)| {
                let path = PathBuf::from(name);
                let up = Script::parse(&path, sql.to_string())
                    .unwrap_or_else(|e| panic!("the test's SQL must parse: {e}"));
                Migration {
                    version: name.split('_').next().unwrap_or(name).to_owned(),
                    name: name.to_string(),
                    path,
                    up,
                    down: None,
                    transaction: true,
                }
            })
            .collect();
        MigrationSet {
            dir: PathBuf::from("in-memory"),
            format: Format::Plain,
            migrations,
        }
    }

    /// Lints `files` for a runner that runs every file again.
    fn check(files: &[(&str, &str)], expected: Expect) {
        check_as(Premises::RERUN_ALL, files, expected);
    }

    /// A database known to exist: `sql` run on an empty one, or after
    /// `deployed` (an earlier version of the set, recorded as run).
    struct State<'a> {
        name: &'a str,
        deployed: &'a [(&'a str, &'a str)],
        sql: &'a str,
    }

    /// Lints `files` for a tracked runner, knowing the states `known`.
    fn check_tracked(known: &[State], files: &[(&str, &str)], expected: Expect) {
        let deployed: Vec<MigrationSet> = known.iter().map(|k| set(k.deployed)).collect();
        let sql: Vec<Script> = known
            .iter()
            .map(|k| Script::parse(std::path::Path::new(k.name), k.sql.to_string()).expect("SQL"))
            .collect();
        let known: Vec<Known> = known
            .iter()
            .zip(&deployed)
            .zip(&sql)
            .map(|((k, old), sql)| Known {
                name: k.name,
                recorded: old.migrations.iter().map(|m| m.version.as_str()).collect(),
                scripts: old.migrations.iter().map(|m| &m.up).chain([sql]).collect(),
            })
            .collect();
        let premises = Premises {
            runner: RunnerMode::Tracked,
            known: &known,
        };
        check_as(premises, files, expected);
    }

    /// The only caller of lint here: its findings and notes.
    fn check_as(premises: Premises, files: &[(&str, &str)], expected: Expect) {
        let set = set(files);
        let lint =
            lint_with_predictions(&set, premises).expect("no suppression comments in these sets");
        let mut actual = String::new();
        for Linted {
            finding,
            prediction,
        } in &lint.linted
        {
            if finding.kind != Kind::IndexBeforeColumn {
                assert_eq!(*prediction, None, "only index-before-column predicts");
                continue;
            }
            actual.push_str(&format!(
                "{}:{}:{} {}\n",
                finding.migration.as_deref().unwrap_or("?"),
                finding.line.unwrap_or(0),
                finding.column.unwrap_or(0),
                finding.message
            ));
            match prediction {
                Some(p) => actual.push_str(&format!(
                    "  predicts: {}.{} without {} fails at {}\n",
                    p.schema, p.table, p.column, set.migrations[p.migration].name
                )),
                None => actual.push_str("  predicts nothing\n"),
            }
        }
        for note in &lint.notes {
            actual.push_str(&format!("note: {note}\n"));
        }
        expected.assert_eq(&actual);
    }

    const JOBS: &str = "CREATE TABLE IF NOT EXISTS jobs (\n    id bigserial PRIMARY KEY,\n    user_id bigint NOT NULL,\n    chat_id bigint\n);\n";

    #[test]
    fn create_table_if_not_exists_then_an_index_on_a_nullable_column() {
        check(
            &[
                ("001_jobs.sql", JOBS),
                (
                    "002_index.sql",
                    "CREATE INDEX IF NOT EXISTS idx_jobs_user ON jobs (user_id);\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n",
                ),
            ],
            expect![[r#"
                002_index.sql:2:51 column jobs.chat_id is only created conditionally at 001_jobs.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.jobs without chat_id fails at 002_index.sql
            "#]],
        );
    }

    #[test]
    fn add_column_if_not_exists_before_the_index() {
        check(
            &[
                ("001_jobs.sql", JOBS),
                (
                    "002_index.sql",
                    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id bigint;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n",
                ),
            ],
            expect![""],
        );
    }

    #[test]
    fn a_plain_create_table() {
        check(
            &[(
                "001_jobs.sql",
                "CREATE TABLE jobs (id bigserial PRIMARY KEY, chat_id bigint);\nCREATE INDEX idx_jobs_chat ON jobs (chat_id);\n",
            )],
            expect![""],
        );
    }

    #[test]
    fn a_column_added_in_one_if_branch_of_a_do_block() {
        // Later statements of the same branch run only where it did; the
        // ELSE branch and statements after the block do not.
        let chat = "DO $$\nBEGIN\n    IF current_setting('app.chats', true) = 'on' THEN\n        ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id bigint;\n        CREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n    ELSE\n        COMMENT ON COLUMN jobs.chat_id IS 'none';\n    END IF;\nEND\n$$;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat2 ON jobs (chat_id);\n";
        check(
            &[
                (
                    "001_jobs.sql",
                    "CREATE TABLE IF NOT EXISTS jobs (id bigserial PRIMARY KEY);\n",
                ),
                ("002_chat.sql", chat),
            ],
            expect![[r#"
                002_chat.sql:7:32 column jobs.chat_id is only added conditionally at 002_chat.sql:4:51 (inside the IF at 002_chat.sql:3:5); add it unconditionally with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.jobs without chat_id fails at 002_chat.sql
                002_chat.sql:11:52 column jobs.chat_id is only added conditionally at 002_chat.sql:4:51 (inside the IF at 002_chat.sql:3:5); add it unconditionally with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.jobs without chat_id fails at 002_chat.sql
            "#]],
        );
    }

    #[test]
    fn a_column_added_then_dropped() {
        // Dropped unconditionally: lint knows nothing more of it (a use
        // fails on every database, which the fresh check reports); added
        // again, it must exist.
        check(
            &[
                ("001_jobs.sql", JOBS),
                (
                    "002_drop.sql",
                    "ALTER TABLE jobs DROP COLUMN IF EXISTS chat_id;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n",
                ),
                (
                    "003_again.sql",
                    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id bigint;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat2 ON jobs (chat_id);\n",
                ),
            ],
            expect![""],
        );
        // A plain DROP COLUMN of a column that may be missing is not judged
        // here (it fails on such a database too); statements.rs warns that
        // it is not idempotent.
        check(
            &[
                ("001_jobs.sql", JOBS),
                ("002_drop.sql", "ALTER TABLE jobs DROP COLUMN chat_id;\n"),
            ],
            expect![""],
        );
        // Dropped in a branch: it may be gone.
        check(
            &[
                (
                    "001_jobs.sql",
                    "CREATE TABLE jobs (id bigserial PRIMARY KEY, chat_id bigint);\n",
                ),
                (
                    "002_drop.sql",
                    "DO $$\nBEGIN\n    IF current_setting('app.chats', true) = 'off' THEN\n        ALTER TABLE jobs DROP COLUMN IF EXISTS chat_id;\n    END IF;\nEND\n$$;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n",
                ),
            ],
            expect![[r#"
                002_drop.sql:8:51 column jobs.chat_id may have been dropped at 002_drop.sql:4:9 (inside the IF at 002_drop.sql:3:5)
                  predicts: public.jobs without chat_id fails at 002_drop.sql
            "#]],
        );
    }

    #[test]
    fn a_renamed_column_keeps_what_is_known_of_it() {
        // The rename itself uses the old name. What is known moves to the
        // new name, note included: the advice still names `chat_id`.
        check(
            &[
                ("001_jobs.sql", JOBS),
                (
                    "002_rename.sql",
                    "ALTER TABLE jobs RENAME COLUMN chat_id TO chat;\nALTER TABLE jobs RENAME COLUMN user_id TO owner_id;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat);\nCREATE INDEX IF NOT EXISTS idx_jobs_owner ON jobs (owner_id);\nCREATE INDEX IF NOT EXISTS idx_jobs_chat_id ON jobs (chat_id);\n",
                ),
            ],
            expect![[r#"
                002_rename.sql:1:32 column jobs.chat_id is only created conditionally at 001_jobs.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.jobs without chat_id fails at 002_rename.sql
                002_rename.sql:3:51 column jobs.chat is only created conditionally at 001_jobs.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.jobs without chat fails at 002_rename.sql
            "#]],
        );
        // So does a renamed table's, with the old table name in the advice.
        check(
            &[
                ("001_jobs.sql", JOBS),
                (
                    "002_rename.sql",
                    "ALTER TABLE jobs RENAME TO tasks;\nCREATE INDEX IF NOT EXISTS idx_tasks_chat ON tasks (chat_id);\n",
                ),
            ],
            expect![[r#"
                002_rename.sql:2:53 column tasks.chat_id is only created conditionally at 001_jobs.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.tasks without chat_id fails at 002_rename.sql
            "#]],
        );
    }

    #[test]
    fn quoted_names_keep_their_case() {
        // The advice writes the names unquoted, which Postgres would fold
        // to jobs.chatid.
        check(
            &[(
                "001_jobs.sql",
                "CREATE TABLE IF NOT EXISTS \"Jobs\" (id bigint PRIMARY KEY, \"chatId\" bigint);\nCREATE INDEX IF NOT EXISTS i ON \"Jobs\" (\"chatId\");\nCREATE INDEX IF NOT EXISTS j ON jobs (chatid);\n",
            )],
            expect![[r#"
                001_jobs.sql:2:41 column Jobs.chatId is only created conditionally at 001_jobs.sql:1:59 (CREATE TABLE IF NOT EXISTS does nothing when Jobs already exists); add it with `ALTER TABLE Jobs ADD COLUMN IF NOT EXISTS chatId ...` before using it
                  predicts: public.Jobs without chatId fails at 001_jobs.sql
            "#]],
        );
    }

    #[test]
    fn a_table_dropped_and_created_again() {
        // After the drop, CREATE TABLE IF NOT EXISTS surely creates the
        // table with all its columns.
        check(
            &[
                ("001_jobs.sql", JOBS),
                (
                    "002_again.sql",
                    "DROP TABLE IF EXISTS jobs;\nCREATE TABLE IF NOT EXISTS jobs (id bigserial PRIMARY KEY, chat_id bigint);\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n",
                ),
            ],
            expect![""],
        );
        // Dropped only in a branch: nothing is known of it any more.
        check(
            &[
                ("001_jobs.sql", JOBS),
                (
                    "002_again.sql",
                    "DO $$\nBEGIN\n    IF current_setting('app.reset', true) = 'on' THEN\n        DROP TABLE IF EXISTS jobs;\n    END IF;\nEND\n$$;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n",
                ),
            ],
            expect![""],
        );
    }

    #[test]
    fn a_tracked_set_creates_the_tables_it_creates_if_not_exists() {
        // Each migration runs once: jobs exists before 001 only if
        // something outside the set made it, and nothing says so. A note
        // states the premise once, instead of a finding per reference.
        let index = "CREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n";
        let files = [("001_jobs.sql", JOBS), ("002_index.sql", index)];
        check_tracked(
            &[],
            &files,
            expect![[r#"
                note: lint: the tracked runner runs each migration once, so CREATE TABLE IF NOT EXISTS was taken to create jobs; if one was created outside this set, later statements use columns that an older one may lack: add such a database as a legacy state (--legacy FILE.sql, or legacy: in a scenario) and lint checks them
            "#]],
        );
        // A known database with an older jobs is evidence: the columns it
        // lacks only may exist (user_id it has, chat_id it lacks).
        let old_jobs = State {
            name: "old jobs",
            deployed: &[],
            sql: "CREATE TABLE jobs (id bigserial PRIMARY KEY, user_id bigint);\n",
        };
        let both = "CREATE INDEX IF NOT EXISTS idx_jobs_user ON jobs (user_id);\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n";
        check_tracked(
            &[old_jobs],
            &[("001_jobs.sql", JOBS), ("002_index.sql", both)],
            expect![[r#"
                002_index.sql:2:51 column jobs.chat_id is only created conditionally at 001_jobs.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists, and legacy state "old jobs" has a jobs without it); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.jobs without chat_id fails at 002_index.sql
            "#]],
        );
        // One that has every column, or no jobs at all, is not.
        let current = State {
            name: "current jobs",
            deployed: &[],
            sql: "CREATE TABLE jobs (id bigint, user_id bigint);\nALTER TABLE jobs ADD COLUMN chat_id bigint;\n",
        };
        let other = State {
            name: "other",
            deployed: &[],
            sql: "CREATE TABLE jobs (id bigint);\nALTER TABLE jobs RENAME TO old_jobs;\n",
        };
        check_tracked(&[current, other], &files, expect![""]);
    }

    #[test]
    fn a_tracked_set_deployed_earlier_is_evidence_only_where_it_runs_the_creation() {
        let index = "CREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n";
        // An earlier version whose 001 made a jobs without chat_id: it
        // records 001, so today's 001 never runs there. What that edit
        // breaks is `edited-after-release`'s and a run's to say.
        let edited = State {
            name: "git abc123",
            deployed: &[(
                "001_jobs.sql",
                "CREATE TABLE IF NOT EXISTS jobs (id bigserial PRIMARY KEY);\n",
            )],
            sql: "",
        };
        check_tracked(
            &[edited],
            &[("001_jobs.sql", JOBS), ("002_index.sql", index)],
            expect![[r#"
                note: lint: the tracked runner runs each migration once, so CREATE TABLE IF NOT EXISTS was taken to create jobs; if one was created outside this set, later statements use columns that an older one may lack: add such a database as a legacy state (--legacy FILE.sql, or legacy: in a scenario) and lint checks them
            "#]],
        );
        // An earlier version that made jobs in a migration since removed:
        // today's 002 runs on its jobs, which lacks chat_id.
        let removed = State {
            name: "git def456",
            deployed: &[(
                "001_legacy.sql",
                "CREATE TABLE jobs (id bigserial PRIMARY KEY, user_id bigint NOT NULL);\n",
            )],
            sql: "",
        };
        check_tracked(
            &[removed],
            &[("002_jobs.sql", JOBS), ("003_index.sql", index)],
            expect![[r#"
                003_index.sql:1:51 column jobs.chat_id is only created conditionally at 002_jobs.sql:4:5 (CREATE TABLE IF NOT EXISTS does nothing when jobs already exists, and legacy state "git def456" has a jobs without it); add it with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.jobs without chat_id fails at 003_index.sql
            "#]],
        );
    }

    #[test]
    fn a_tracked_set_still_judges_conditions_that_are_not_about_existence() {
        // A DO block's IF may skip the ALTER on any database, whatever the
        // runner: still a finding.
        let chat = "DO $$\nBEGIN\n    IF current_setting('app.chats', true) = 'on' THEN\n        ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id bigint;\n    END IF;\nEND\n$$;\nCREATE INDEX IF NOT EXISTS idx_jobs_chat ON jobs (chat_id);\n";
        check_tracked(
            &[],
            &[
                (
                    "001_jobs.sql",
                    "CREATE TABLE IF NOT EXISTS jobs (id bigserial PRIMARY KEY);\n",
                ),
                ("002_chat.sql", chat),
            ],
            expect![[r#"
                002_chat.sql:8:51 column jobs.chat_id is only added conditionally at 002_chat.sql:4:51 (inside the IF at 002_chat.sql:3:5); add it unconditionally with `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS chat_id ...` before using it
                  predicts: public.jobs without chat_id fails at 002_chat.sql
            "#]],
        );
    }
}
