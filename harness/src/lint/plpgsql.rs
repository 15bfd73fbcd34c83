//! DO blocks: the SQL statements of their PL/pgSQL bodies as units of their
//! own, with the conditions they run under.
//!
//! Many migrations guard their DDL in DO blocks (`IF NOT EXISTS (SELECT
//! ... FROM pg_constraint ...) THEN ALTER TABLE ... ADD CONSTRAINT`), and
//! much of what goes wrong on old databases happens in the branches of
//! such blocks. `pg_query::parse_plpgsql` parses the body the way the
//! server does; the SQL of each statement (`PLpgSQL_stmt_execsql`, and
//! `EXECUTE` of a string literal) is parsed again with `pg_query::parse`.
//! Both give positions relative to their own text; this module maps them
//! back to the file: the body starts after the DO's opening quote, a
//! statement's `lineno` counts lines from there, and its SQL is found
//! verbatim from the start of that line.
//!
//! Dynamic SQL built at run time (`EXECUTE format(...)`) cannot be read
//! and is left alone.

use std::path::Path;

use pg_query::NodeEnum;
use pg_query::protobuf::DoStmt;
use serde_json::Value;

use super::{Unit, parse_one};
use crate::migrations::{Script, Statement};

/// Something a statement inside a DO block runs under.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    /// Numbers the branches of one DO block: two statements with the same
    /// ids are in the same branch.
    pub id: usize,
    /// Byte offset in the file of the IF, loop or block, for messages.
    pub at: usize,
    pub kind: CondKind,
}

#[derive(Debug, Clone)]
pub(crate) enum CondKind {
    /// A branch of an IF or ELSIF.
    If {
        /// String literals of the condition (and of the query that `FOUND`
        /// refers to), lower case: the names the condition looks for.
        literals: Vec<String>,
        /// The condition asks for absence: NOT, IS NULL, `= 0`.
        negated: bool,
        /// The condition looks at the catalog or at what exists.
        existence: bool,
        /// The ELSE branch of an IF without ELSIF: runs when the condition
        /// is false.
        else_branch: bool,
    },
    /// A CASE branch, or the ELSE of an IF with ELSIFs.
    Branch,
    Loop,
    /// The body of a block with an EXCEPTION clause: a statement that fails
    /// there is undone and handled, typically `duplicate_object` after a
    /// second run.
    Caught,
    /// An exception handler.
    Handler,
}

impl Cond {
    /// Whether the branch runs exactly when `name` does not exist yet, so
    /// that creating `name` in it works like `IF NOT EXISTS`:
    /// `IF NOT EXISTS (SELECT ... WHERE tablename = 'jobs') THEN CREATE
    /// TABLE jobs`, or a block that catches the "already exists" error.
    pub fn creates_if_absent(&self, name: &str) -> bool {
        match &self.kind {
            CondKind::If {
                literals,
                negated,
                else_branch,
                ..
            } => {
                let name = name.to_lowercase();
                let mentions = literals
                    .iter()
                    .any(|l| *l == name || l.ends_with(&format!(".{name}")));
                mentions && negated != else_branch
            }
            CondKind::Caught => true,
            CondKind::Branch | CondKind::Loop | CondKind::Handler => false,
        }
    }

    /// Whether the statement is guarded against running twice: inside a
    /// branch that checks the catalog, or where "already exists" is caught.
    pub fn guards_rerun(&self) -> bool {
        match &self.kind {
            CondKind::If { existence, .. } => *existence,
            CondKind::Caught | CondKind::Handler => true,
            CondKind::Branch | CondKind::Loop => false,
        }
    }

    /// "the IF", "the loop", ... for messages; `at` follows.
    pub fn what(&self) -> &'static str {
        match &self.kind {
            CondKind::If {
                else_branch: true, ..
            } => "the ELSE branch of the IF",
            CondKind::If { .. } => "the IF",
            CondKind::Branch => "the branch",
            CondKind::Loop => "the loop",
            CondKind::Caught => "the block with an EXCEPTION clause",
            CondKind::Handler => "the exception handler",
        }
    }
}

/// Appends the units of a DO block's body to `out`; nothing when the block
/// is not PL/pgSQL or does not parse.
pub(super) fn units(
    migration: usize,
    statement_index: usize,
    statement: &Statement,
    do_stmt: &DoStmt,
    out: &mut Vec<Unit>,
) {
    let mut body = None;
    for arg in &do_stmt.args {
        let Some(NodeEnum::DefElem(d)) = &arg.node else {
            continue;
        };
        let value = match d.arg.as_ref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::String(s)) => s.sval.as_str(),
            _ => continue,
        };
        match d.defname.as_str() {
            "language" if !value.eq_ignore_ascii_case("plpgsql") => return,
            "as" => body = usize::try_from(d.location).ok(),
            _ => {}
        }
    }
    let Some(literal) = body else { return };
    let Ok(parsed) = pg_query::parse_plpgsql(&statement.sql) else {
        return;
    };
    let Some(action) = parsed.pointer("/0/PLpgSQL_function/action") else {
        return;
    };
    let start = literal + opening_quote(&statement.sql[literal.min(statement.sql.len())..]);
    let text = statement.sql.get(start..).unwrap_or("");
    let mut walker = Walker {
        text,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        base: statement.offset + start,
        migration,
        statement: statement_index,
        branches: 0,
        out,
    };
    walker.statements(std::slice::from_ref(action), &[]);
}

/// Length of the quote that opens a string literal: `$$`, `$tag$`, `'`,
/// `E'`. The body of a dollar-quoted literal is the file's text verbatim;
/// in a quoted one, doubled quotes shift positions after them a little.
fn opening_quote(literal: &str) -> usize {
    if let Some(rest) = literal.strip_prefix('$') {
        return rest.find('$').map_or(0, |i| i + 2);
    }
    if literal.starts_with('\'') {
        1
    } else if literal.starts_with("E'") || literal.starts_with("e'") {
        2
    } else {
        0
    }
}

struct Walker<'a> {
    /// The file's text from the start of the body to the end of the DO.
    text: &'a str,
    /// Byte offsets in `text` of the starts of lines 1, 2, ...
    line_starts: Vec<usize>,
    /// Byte offset of `text` in the file.
    base: usize,
    migration: usize,
    statement: usize,
    /// Branches numbered so far.
    branches: usize,
    out: &'a mut Vec<Unit>,
}

impl Walker<'_> {
    /// Walks a list of PL/pgSQL statements, each `{"PLpgSQL_stmt_x": {..}}`.
    fn statements(&mut self, list: &[Value], conds: &[Cond]) {
        // The query before an `IF FOUND`, which is what FOUND is about.
        let mut previous_query = String::new();
        for item in list {
            let Some((kind, v)) = item.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let lineno = v
                .get("lineno")
                .and_then(Value::as_u64)
                .and_then(|l| usize::try_from(l).ok())
                .unwrap_or(1);
            let at = self.line_offset(lineno);
            match kind.as_str() {
                "PLpgSQL_stmt_block" => {
                    let body = array(v, "/body");
                    match v.get("exceptions") {
                        Some(exceptions) if !exceptions.is_null() => {
                            let c = self.branch(conds, at, CondKind::Caught);
                            self.statements(body, &c);
                            let handlers = array(exceptions, "/PLpgSQL_exception_block/exc_list");
                            for handler in handlers {
                                let action = array(handler, "/PLpgSQL_exception/action");
                                let c = self.branch(conds, at, CondKind::Handler);
                                self.statements(action, &c);
                            }
                        }
                        _ => self.statements(body, conds),
                    }
                }
                "PLpgSQL_stmt_if" => {
                    let cond = expr(v, "/cond");
                    let elsifs = array(v, "/elsif_list");
                    let branch = |else_branch| if_cond(cond, &previous_query, else_branch);
                    let c = self.branch(conds, at, branch(false));
                    self.statements(array(v, "/then_body"), &c);
                    for elsif in elsifs {
                        let e = elsif.get("PLpgSQL_if_elsif").unwrap_or(&Value::Null);
                        let kind = if_cond(expr(e, "/cond"), &previous_query, false);
                        let line = e.get("lineno").and_then(Value::as_u64).unwrap_or(1);
                        let at = self.line_offset(usize::try_from(line).unwrap_or(1));
                        let c = self.branch(conds, at, kind);
                        self.statements(array(e, "/stmts"), &c);
                    }
                    // After ELSIFs, ELSE runs when all conditions are false:
                    // nothing simple to say about what exists then.
                    let else_kind = if elsifs.is_empty() {
                        branch(true)
                    } else {
                        CondKind::Branch
                    };
                    let c = self.branch(conds, at, else_kind);
                    self.statements(array(v, "/else_body"), &c);
                }
                "PLpgSQL_stmt_case" => {
                    for when in array(v, "/case_when_list") {
                        let stmts = array(when, "/PLpgSQL_case_when/stmts");
                        let c = self.branch(conds, at, CondKind::Branch);
                        self.statements(stmts, &c);
                    }
                    let c = self.branch(conds, at, CondKind::Branch);
                    self.statements(array(v, "/else_stmts"), &c);
                }
                "PLpgSQL_stmt_loop"
                | "PLpgSQL_stmt_while"
                | "PLpgSQL_stmt_fori"
                | "PLpgSQL_stmt_fors"
                | "PLpgSQL_stmt_forc"
                | "PLpgSQL_stmt_foreach_a"
                | "PLpgSQL_stmt_dynfors" => {
                    let c = self.branch(conds, at, CondKind::Loop);
                    self.statements(array(v, "/body"), &c);
                }
                "PLpgSQL_stmt_execsql" => {
                    let query = expr(v, "/sqlstmt");
                    let found = self.find(query, lineno);
                    self.sql(query, found, conds);
                    previous_query = query.to_string();
                }
                "PLpgSQL_stmt_dynexecute" => {
                    let query = expr(v, "/query");
                    if let Some((sql, inner)) = string_literal(query) {
                        let found = self.find(query, lineno) + inner;
                        self.sql(&sql, found, conds);
                    }
                }
                "PLpgSQL_stmt_perform" => previous_query = expr(v, "/expr").to_string(),
                _ => {}
            }
        }
    }

    /// `conds` and one more condition, a new branch.
    fn branch(&mut self, conds: &[Cond], at: usize, kind: CondKind) -> Vec<Cond> {
        self.branches += 1;
        let mut c = conds.to_vec();
        c.push(Cond {
            id: self.branches,
            at,
            kind,
        });
        c
    }

    /// Adds the statements of `sql`, found at byte `at` of the body text.
    fn sql(&mut self, sql: &str, at: usize, conds: &[Cond]) {
        // Script::parse splits (an EXECUTE'd string may hold several
        // statements) and classifies transaction needs the same way as for
        // the file's own statements.
        let Ok(script) = Script::parse(Path::new("DO block"), sql.to_string()) else {
            return;
        };
        for statement in script.statements {
            let Some(node) = parse_one(&statement.sql) else {
                continue;
            };
            self.out.push(Unit {
                migration: self.migration,
                statement: self.statement,
                node,
                base: self.base + at + statement.offset,
                sql: statement.sql,
                tx: statement.tx,
                in_do: true,
                conds: conds.to_vec(),
            });
        }
    }

    /// Byte offset in the body text of the first token of line `lineno`
    /// (1-based, counted from the body's start).
    fn line_offset(&self, lineno: usize) -> usize {
        let start = self
            .line_starts
            .get(lineno.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let indent = self.text[start..].len() - self.text[start..].trim_start().len();
        self.base + start + indent
    }

    /// Byte offset in the body text of `query`, which PL/pgSQL copies
    /// verbatim from the source, searched from the start of its line.
    fn find(&self, query: &str, lineno: usize) -> usize {
        let line = self
            .line_starts
            .get(lineno.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        match self.text[line..].find(query) {
            Some(i) => line + i,
            // A quoted (not dollar-quoted) body whose text differs from the
            // file's: point at the line.
            None => self.line_offset(lineno) - self.base,
        }
    }
}

/// The array at `pointer` in `v`, or nothing.
fn array<'v>(v: &'v Value, pointer: &str) -> &'v [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The text of the PL/pgSQL expression at `pointer`.
fn expr<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer)
        .and_then(|e| e.pointer("/PLpgSQL_expr/query"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// What an IF condition tells about the objects its branch creates.
fn if_cond(cond: &str, previous_query: &str, else_branch: bool) -> CondKind {
    let tokens = words(cond);
    let mut names = literals(cond);
    let found = tokens.iter().any(|t| t == "found");
    if found {
        names.extend(literals(previous_query));
    }
    // NOT EXISTS, NOT FOUND, IS NULL, count(*) = 0; but IS NOT NULL asks
    // for presence.
    let negated = tokens
        .iter()
        .enumerate()
        .any(|(i, t)| t == "not" && (i == 0 || tokens[i - 1] != "is"))
        || tokens.windows(2).any(|w| w[0] == "is" && w[1] == "null")
        || tokens.windows(2).any(|w| w[0] == "=" && w[1] == "0");
    let lower = cond.to_lowercase();
    let existence = found
        || tokens.iter().any(|t| t == "exists")
        || lower.contains("to_reg")
        || lower.contains("pg_")
        || lower.contains("information_schema");
    CondKind::If {
        literals: names,
        negated,
        existence,
        else_branch,
    }
}

/// The lower-case tokens of an expression, string literals included.
fn words(expr: &str) -> Vec<String> {
    let Ok(scanned) = pg_query::scan(expr) else {
        return Vec::new();
    };
    scanned
        .tokens
        .iter()
        .filter_map(|t| {
            let range = usize::try_from(t.start).ok()?..usize::try_from(t.end).ok()?;
            expr.get(range).map(str::to_lowercase)
        })
        .collect()
}

/// The contents of the string literals of an expression, lower case.
fn literals(expr: &str) -> Vec<String> {
    words(expr)
        .into_iter()
        .filter_map(|w| {
            let inner = w.strip_prefix('\'')?.strip_suffix('\'')?;
            Some(inner.replace("''", "'"))
        })
        .collect()
}

/// The contents of an expression that is a single string literal
/// (`'...'` or `$$...$$`), and the byte offset of the contents in it.
fn string_literal(expr: &str) -> Option<(String, usize)> {
    let trimmed = expr.trim_start();
    let lead = expr.len() - trimmed.len();
    let trimmed = trimmed.trim_end();
    if let Some(inner) = trimmed
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
    {
        // One literal, not 'a' || 'b': no quote left once '' are removed.
        if inner.replace("''", "").contains('\'') {
            return None;
        }
        return Some((inner.replace("''", "'"), lead + 1));
    }
    let open = opening_quote(trimmed);
    if trimmed.starts_with('$') && open > 0 {
        let tag = &trimmed[..open];
        let inner = trimmed[open..].strip_suffix(tag)?;
        if inner.contains(tag) {
            return None;
        }
        return Some((inner.to_string(), lead + open));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_of_execute() {
        let check = |expr: &str, expected: Option<(&str, usize)>| {
            let actual = string_literal(expr);
            let actual = actual.as_ref().map(|(s, i)| (s.as_str(), *i));
            assert_eq!(actual, expected, "{expr}");
        };
        check(
            "'ALTER TABLE t ADD c int'",
            Some(("ALTER TABLE t ADD c int", 1)),
        );
        check("'it''s'", Some(("it's", 1)));
        check("'a' || 'b'", None);
        check("$q$DROP TABLE t$q$", Some(("DROP TABLE t", 3)));
        check("format('DROP TABLE %I', t)", None);
    }

    #[test]
    fn if_conditions_name_what_they_check() {
        let c = Cond {
            id: 0,
            at: 0,
            kind: if_cond(
                "NOT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'Jobs')",
                "",
                false,
            ),
        };
        assert!(c.creates_if_absent("jobs"));
        assert!(!c.creates_if_absent("users"));
        assert!(c.guards_rerun());
        let c = Cond {
            id: 0,
            at: 0,
            kind: if_cond("to_regclass('public.jobs') IS NOT NULL", "", true),
        };
        // The ELSE branch of "jobs exists" runs when it does not.
        assert!(c.creates_if_absent("jobs"));
        assert!(!c.creates_if_absent("users"));
        let c = Cond {
            id: 0,
            at: 0,
            kind: if_cond(
                "NOT FOUND",
                "SELECT 1 FROM pg_constraint WHERE conname = 'jobs_chat_fk'",
                false,
            ),
        };
        assert!(c.creates_if_absent("jobs_chat_fk"));
        let c = Cond {
            id: 0,
            at: 0,
            kind: if_cond("current_setting('app.x') = 'on'", "", false),
        };
        assert!(!c.guards_rerun());
    }
}
