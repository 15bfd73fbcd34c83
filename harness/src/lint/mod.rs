//! lint: static analysis of a migration set with the real parser (pg_query,
//! including the PL/pgSQL bodies of DO blocks). No IO, no server.
//!
//! `migcheck lint` finds, without running anything, the shapes of the bugs
//! that the server-backed checks find by running them. Three rules, each a
//! finding kind of `product.md`:
//!
//! - `index-before-column` (error, `columns.rs`): an index, constraint,
//!   view, trigger, comment or DML statement refers to a column that, at that
//!   point of the set, only *may* exist, because it was created by a
//!   statement that does nothing on some databases. What counts as such a
//!   database depends on the runner ([`Premises`]): under `rerun-all` a
//!   table the set creates with `CREATE TABLE IF NOT EXISTS` may be an
//!   older version of itself; under `tracked` only a known state
//!   ([`Known`]: a scenario's legacy state, a past version from git) shows
//!   that it may exist before the set creates it.
//! - `non-idempotent-statement` (warning, `statements.rs`):
//!   a statement that errors when executed a second time. It matters only
//!   for `rerun-all` runners, which run every file again at every start;
//!   a runner that tracks versions never runs a file twice.
//! - `tx-incompatible` (error, `statements.rs`): a
//!   statement that cannot run inside a transaction block, in a migration
//!   that runs in one; and a new enum value used in the transaction that
//!   added it.
//!
//! Statements inside DO blocks are analysed too (`plpgsql.rs`): the SQL
//! statements of their bodies become units of their own, with the
//! conditions (IF branches, loops, exception handlers) they run under.
//!
//! ## Suppression
//!
//! A comment `-- migcheck:ignore <kind> <reason>` (or `-- migcheck: ignore
//! <kind>: <reason>`, read by `crate::suppress`) on a line of a statement,
//! or on the comment lines directly above it (no blank line between),
//! suppresses findings of that kind for that statement. For a statement
//! inside a DO block, the comment may also be above the DO block. The
//! reason is required, so that the next reader knows why; a directive
//! without one, or with a kind lint does not produce, is an error
//! ([`LintError::Suppression`]), not a finding: a typo must not silently
//! stop suppressing. Directives are read from `--` comments only.
//!
//! ```sql
//! -- migcheck:ignore non-idempotent-statement the runner tracks versions
//! ALTER TABLE accounts ADD COLUMN email text;
//! ```
//!
//! This module must not read files or talk to a server: it judges the
//! already loaded `MigrationSet`, and returns findings as data.

mod columns;
mod known;
mod plpgsql;
mod statements;

pub use known::Known;

use pg_query::NodeEnum;
use pg_query::protobuf::{Node, RangeVar};
use serde_json::Value;

use crate::finding::{Finding, Kind, Severity};
use crate::migrations::{Migration, MigrationSet, Script, Statement, TxNeed};
use crate::runner::RunnerMode;
use crate::suppress::{self, Directive};

/// Why lint could not judge the set.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// A `-- migcheck: ignore` comment that is malformed.
    #[error(transparent)]
    Suppression(#[from] suppress::SuppressionError),
}

/// How the set is run and what is known of the databases it meets: what
/// decides whether a table that `CREATE TABLE IF NOT EXISTS` names may
/// already exist, with fewer columns.
#[derive(Debug, Clone, Copy)]
pub struct Premises<'a> {
    pub runner: RunnerMode,
    /// States known to exist before the set runs. Under `tracked` they are
    /// the only evidence of an older table; lint does not read them
    /// under `rerun-all`, where the set's own past is evidence enough.
    pub known: &'a [Known<'a>],
}

impl Premises<'_> {
    /// A runner that executes every file again at every start.
    pub const RERUN_ALL: Premises<'static> = Premises {
        runner: RunnerMode::RerunAll,
        known: &[],
    };
}

/// What lint found, and what it took for granted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lint {
    /// Ordered by migration, line, column and kind.
    pub linted: Vec<Linted>,
    /// The premises lint took that a reader may want to know (the tables a
    /// tracked set's `CREATE TABLE IF NOT EXISTS` was taken to create).
    pub notes: Vec<String>,
}

/// Lints `set` for a runner that executes every file again: findings
/// ordered by migration, line, column and kind.
pub fn lint(set: &MigrationSet) -> Result<Vec<Finding>, LintError> {
    Ok(lint_with_predictions(set, Premises::RERUN_ALL)?
        .linted
        .into_iter()
        .map(|linted| linted.finding)
        .collect())
}

/// Lints `set` under `premises`, and says for each `index-before-column`
/// finding which state would make it fail, for a run to confirm.
pub fn lint_with_predictions(set: &MigrationSet, premises: Premises) -> Result<Lint, LintError> {
    // Malformed directives are reported even where nothing is found, so a
    // typo is caught the first time it is written.
    let directives = set
        .migrations
        .iter()
        .map(suppress::directives)
        .collect::<Result<Vec<_>, _>>()?;
    let units = units(set.migrations.iter().map(|m| &m.up));
    let mut hits = Vec::new();
    let notes = columns::check(set, &units, premises, &mut hits);
    statements::check(set, &units, &mut hits);
    // A tracked runner never executes a recorded migration again, so a
    // statement that cannot run twice breaks nothing there (`rerun-bodies`
    // shows them on request).
    if premises.runner == RunnerMode::Tracked {
        hits.retain(|hit| hit.kind != Kind::NonIdempotentStatement);
    }

    let lines: Vec<Vec<&str>> = set
        .migrations
        .iter()
        .map(|m| m.up.sql.lines().collect())
        .collect();
    let mut findings = Vec::new();
    for hit in hits {
        let unit = &units[hit.unit];
        let migration = &set.migrations[unit.migration];
        let directives = &directives[unit.migration];
        if suppressed(
            migration,
            &lines[unit.migration],
            unit,
            hit.kind,
            directives,
        ) {
            continue;
        }
        let (line, column) = migration.up.line_column(hit.offset);
        let severity = match hit.kind {
            // Matters only to runners that execute every file again.
            Kind::NonIdempotentStatement => Severity::Warning,
            _ if hit.assumed => Severity::Warning,
            _ => Severity::Error,
        };
        let finding = Finding {
            severity,
            migration: Some(migration.name.clone()),
            statement: Some(unit.statement),
            line: Some(line),
            column: Some(column),
            ..Finding::new(hit.kind, hit.message)
        };
        let prediction = hit.missing.map(|(table, column)| Prediction {
            schema: table.schema,
            table: table.name,
            column,
            migration: unit.migration,
            assumed: hit.assumed,
        });
        findings.push((
            unit.migration,
            Linted {
                finding,
                prediction,
            },
        ));
    }
    findings.sort_by(|(a, x), (b, y)| {
        let (x, y) = (&x.finding, &y.finding);
        (a, x.line, x.column, x.kind, &x.message).cmp(&(b, y.line, y.column, y.kind, &y.message))
    });
    findings.dedup_by(|a, b| a.0 == b.0 && a.1.finding == b.1.finding);
    Ok(Lint {
        linted: findings.into_iter().map(|(_, linted)| linted).collect(),
        notes,
    })
}

/// One SQL statement lint looks at: a statement of a file, or one of the
/// SQL statements inside a DO block's body.
pub(crate) struct Unit {
    /// Index of the migration in the set.
    pub migration: usize,
    /// 1-based index of the file's statement (the DO block, for a
    /// statement inside one).
    pub statement: usize,
    pub node: NodeEnum,
    /// The statement's text; the node's `location`s are byte offsets in it.
    pub sql: String,
    /// Byte offset of `sql` in the migration's file.
    pub base: usize,
    pub tx: TxNeed,
    /// True for a statement inside a DO block's body.
    pub in_do: bool,
    /// What must hold for the statement to run, outermost first: the IF
    /// branches, loops and exception blocks around it in its DO block.
    pub conds: Vec<plpgsql::Cond>,
}

impl Unit {
    /// Byte offset in the file of a `location` inside the statement.
    /// Locations are -1 when the parser has none; the statement's start is
    /// the best place to point at then.
    pub fn offset(&self, location: i32) -> usize {
        self.base + usize::try_from(location).unwrap_or(0)
    }
}

/// A finding before suppression and location: `offset` is a byte offset in
/// the file of the unit's migration.
pub(crate) struct Hit {
    pub kind: Kind,
    pub unit: usize,
    pub offset: usize,
    pub message: String,
    /// For `index-before-column`: the table and the column that may be
    /// missing, so the state can be built and the finding confirmed.
    pub missing: Option<(Table, String)>,
    /// Only lint's assumption says the column may be missing: a warning
    /// until a run confirms it.
    pub assumed: bool,
}

/// A finding, and for `index-before-column` the state it predicts fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linted {
    pub finding: Finding,
    pub prediction: Option<Prediction>,
}

/// A database state a finding predicts will fail: `table` (schema-qualified)
/// exists without `column` when `migration` (its index in the set) runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    pub schema: String,
    pub table: String,
    pub column: String,
    pub migration: usize,
    /// The prediction rests on lint's assumption only: its finding is a
    /// warning until the state it predicts fails.
    pub assumed: bool,
}

/// The units of scripts run in this order (a set's up scripts: `migration`
/// is then the index in the set): every statement of every file, each DO
/// block followed by the statements of its body.
fn units<'s>(scripts: impl Iterator<Item = &'s Script>) -> Vec<Unit> {
    let mut units = Vec::new();
    for (m, script) in scripts.enumerate() {
        for (i, statement) in script.statements.iter().enumerate() {
            // A statement the parser rejected is left to the server, and
            // noted as not analysed (`Script::unanalysed`); one that does
            // not parse on its own is left alone rather than failing lint.
            if statement.rejected.is_some() {
                continue;
            }
            let Some(node) = parse_one(&statement.sql) else {
                continue;
            };
            let do_block = match &node {
                NodeEnum::DoStmt(d) => Some(d.clone()),
                _ => None,
            };
            units.push(Unit {
                migration: m,
                statement: i + 1,
                node,
                sql: statement.sql.clone(),
                base: statement.offset,
                tx: statement.tx,
                in_do: false,
                conds: Vec::new(),
            });
            if let Some(d) = do_block {
                plpgsql::units(m, i + 1, statement, &d, &mut units);
            }
        }
    }
    units
}

/// The node of a text holding one statement.
pub(crate) fn parse_one(sql: &str) -> Option<NodeEnum> {
    let parsed = pg_query::parse(sql).ok()?;
    let raw = parsed.protobuf.stmts.into_iter().next()?;
    raw.stmt?.node
}

// ---------------------------------------------------------------------------
// Suppression

/// Whether a directive for `kind` is attached to the unit: on one of its
/// lines or directly above it, or, inside a DO block, on the DO block's first
/// line or directly above it. Not anywhere in the DO block: a directive
/// above one statement of the body must not silence the others.
fn suppressed(
    migration: &Migration,
    lines: &[&str],
    unit: &Unit,
    kind: Kind,
    directives: &[Directive],
) -> bool {
    let script = &migration.up;
    let first = script.line_column(unit.base).0;
    let last = script.line_column(unit.base + unit.sql.len()).0;
    let mut attached = vec![(first, last)];
    if unit.in_do {
        let outer: &Statement = &script.statements[unit.statement - 1];
        attached.push((outer.line, outer.line));
    }
    attached
        .iter()
        .any(|&(first, last)| suppress::attached(directives, lines, kind, first, last).is_some())
}

// ---------------------------------------------------------------------------
// Reading the parse tree

/// A table, schema-qualified. The search path is taken to be `public`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Table {
    pub schema: String,
    pub name: String,
}

impl Table {
    pub fn of(relation: &RangeVar) -> Table {
        Table::from_names(&[relation.schemaname.clone(), relation.relname.clone()])
    }

    /// From the names of a qualified name (`[schema,] table`).
    pub fn from_names(names: &[String]) -> Table {
        let (schema, name) = match names {
            [.., schema, name] if !schema.is_empty() => (schema.clone(), name.clone()),
            [.., name] => ("public".to_string(), name.clone()),
            [] => ("public".to_string(), String::new()),
        };
        Table { schema, name }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.schema == "public" {
            f.write_str(&self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

/// The `String` values of a list of nodes (names, column lists).
pub(crate) fn strings(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

/// The names of a qualified name in a node: a `List` of strings, a
/// `TypeName`, an `ObjectWithArgs` or a `String`.
pub(crate) fn names(node: &Node) -> Vec<String> {
    match &node.node {
        Some(NodeEnum::List(l)) => strings(&l.items),
        Some(NodeEnum::TypeName(t)) => strings(&t.names),
        Some(NodeEnum::ObjectWithArgs(o)) => strings(&o.objname),
        Some(NodeEnum::String(s)) => vec![s.sval.clone()],
        _ => Vec::new(),
    }
}

/// A column reference of an expression: its names (`*` for a star) and
/// location.
pub(crate) struct ColRef {
    pub names: Vec<String>,
    pub location: i32,
}

/// Calls `visit` with the type name and body of every node under `value`.
/// The protobuf tree serialised to JSON is walked generically, so that no
/// expression form (sublinks, casts, CASE, function arguments) is missed.
fn walk(value: &Value, visit: &mut impl FnMut(&str, &Value)) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                visit(key, inner);
                walk(inner, visit);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

fn json(node: &impl serde::Serialize) -> Value {
    serde_json::to_value(node).unwrap_or(Value::Null)
}

fn location(body: &Value) -> i32 {
    body.get("location")
        .and_then(Value::as_i64)
        .and_then(|l| i32::try_from(l).ok())
        .unwrap_or(-1)
}

/// Every column reference under `node`.
pub(crate) fn column_refs(node: &impl serde::Serialize) -> Vec<ColRef> {
    let mut refs = Vec::new();
    walk(&json(node), &mut |key, body| {
        if key != "ColumnRef" {
            return;
        }
        let names = body
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(
                |f| match f.pointer("/node/String/sval").and_then(Value::as_str) {
                    Some(s) => s.to_string(),
                    None => "*".to_string(),
                },
            )
            .collect();
        refs.push(ColRef {
            names,
            location: location(body),
        });
    });
    refs
}

/// Every string constant under `node`, with its location.
pub(crate) fn string_consts(node: &impl serde::Serialize) -> Vec<(String, i32)> {
    let mut consts = Vec::new();
    walk(&json(node), &mut |key, body| {
        if key != "AConst" {
            return;
        }
        if let Some(s) = body.pointer("/val/Sval/sval").and_then(Value::as_str) {
            consts.push((s.to_string(), location(body)));
        }
    });
    consts
}

/// Every table named in a FROM list under `node`, with its alias.
pub(crate) fn range_vars(node: &impl serde::Serialize) -> Vec<(Table, Option<String>)> {
    let mut tables = Vec::new();
    walk(&json(node), &mut |key, body| {
        if key != "RangeVar" {
            return;
        }
        let text = |pointer| body.pointer(pointer).and_then(Value::as_str).unwrap_or("");
        let table = Table::from_names(&[
            text("/schemaname").to_string(),
            text("/relname").to_string(),
        ]);
        let alias = Some(text("/alias/aliasname"))
            .filter(|a| !a.is_empty())
            .map(str::to_string);
        tables.push((table, alias));
    });
    tables
}

/// Byte offset of the first token at or after `from` that names `name`
/// (an identifier, quoted or not, or a keyword used as one). Nodes such as
/// `IndexElem` or the column lists of constraints carry no location, so
/// the scanner finds the name in the statement's text.
pub(crate) fn find_name(sql: &str, from: usize, name: &str) -> Option<usize> {
    let tokens = pg_query::scan(sql).ok()?.tokens;
    tokens
        .iter()
        .filter_map(|t| Some((usize::try_from(t.start).ok()?, usize::try_from(t.end).ok()?)))
        .filter(|&(start, _)| start >= from)
        .find(|&(start, end)| sql.get(start..end).is_some_and(|t| token_names(t, name)))
        .map(|(start, _)| start)
}

fn token_names(token: &str, name: &str) -> bool {
    match token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\"") == name,
        // Postgres folds unquoted identifiers to lower case (ASCII only).
        None => token.to_ascii_lowercase() == name,
    }
}
