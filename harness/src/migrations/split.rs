//! Splitting SQL into statements with the real Postgres parser
//! (libpg_query), and locating them in their file.
//!
//! Never split on semicolons by hand: dollar quotes, `BEGIN ATOMIC` bodies
//! and comments break that.

use std::ops::Range;

use pg_query::NodeEnum;

/// One statement of a script, as it will be sent to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's text, from its first token to before its semicolon.
    pub sql: String,
    /// Byte offset of `sql` in the file, to map server error positions back.
    pub offset: usize,
    /// 1-based line and column of the first token.
    pub line: usize,
    pub column: usize,
    pub tx: TxNeed,
}

impl Statement {
    /// Whether the statement must be sent outside any transaction block:
    /// it refuses one, or it is transaction control itself.
    pub fn outside_transaction(&self) -> bool {
        matches!(self.tx, TxNeed::NoTransaction | TxNeed::Control)
    }
}

/// What a statement requires of the transaction around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxNeed {
    /// Runs anywhere.
    Any,
    /// Cannot run inside a transaction block (`CREATE INDEX CONCURRENTLY`,
    /// `VACUUM`, `ALTER SYSTEM`, ...).
    NoTransaction,
    /// Is itself transaction control (`BEGIN`, `COMMIT`, `SAVEPOINT`, ...).
    Control,
    /// Runs in a transaction, but its effect is only usable after a commit
    /// (`ALTER TYPE ... ADD VALUE`; `RENAME VALUE` is `Any`), so a
    /// rolled-back sandbox would differ.
    NeedsCommit,
}

#[derive(Debug)]
pub(super) struct SplitError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Splits the part `range` of `text` (all of a file, or one section of it)
/// into statements. Offsets, lines and columns, of statements and of
/// errors, are positions in the whole of `text`.
pub(super) fn split_range(text: &str, range: Range<usize>) -> Result<Vec<Statement>, SplitError> {
    let base = range.start;
    let sql = &text[range];
    let error_at = |offset: usize, message: String| {
        let (line, column) = line_column(text, base + offset);
        SplitError {
            line,
            column,
            message,
        }
    };
    if let Some(offset) = sql.find('\0') {
        return Err(error_at(
            offset,
            "contains a NUL byte; is this a binary file?".into(),
        ));
    }
    let parsed = match pg_query::parse(sql) {
        Ok(parsed) => parsed,
        Err(e) => {
            let (offset, message) = locate_parse_error(sql, e);
            return Err(error_at(offset, message));
        }
    };
    let mut statements = Vec::new();
    for raw in &parsed.protobuf.stmts {
        let start = raw.stmt_location as usize;
        // A length of 0 means "to the end of the input".
        let end = match raw.stmt_len {
            0 => sql.len(),
            len => start + len as usize,
        };
        let first = start + leading_trivia(&sql[start..end]);
        let statement = sql[first..end].trim_end();
        if statement.is_empty() {
            continue;
        }
        let (line, column) = line_column(text, base + first);
        let tx = raw
            .stmt
            .as_ref()
            .and_then(|n| n.node.as_ref())
            .map_or(TxNeed::Any, tx_need);
        statements.push(Statement {
            sql: statement.to_string(),
            offset: base + first,
            line,
            column,
            tx,
        });
    }
    Ok(statements)
}

fn tx_need(node: &NodeEnum) -> TxNeed {
    match node {
        NodeEnum::TransactionStmt(_) => TxNeed::Control,
        NodeEnum::IndexStmt(s) if s.concurrent => TxNeed::NoTransaction,
        NodeEnum::DropStmt(s) if s.concurrent => TxNeed::NoTransaction,
        NodeEnum::ReindexStmt(s)
            if s.params.iter().any(
                |p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"),
            ) =>
        {
            TxNeed::NoTransaction
        }
        NodeEnum::VacuumStmt(_)
        | NodeEnum::AlterSystemStmt(_)
        | NodeEnum::CreatedbStmt(_)
        | NodeEnum::DropdbStmt(_)
        | NodeEnum::CreateTableSpaceStmt(_)
        | NodeEnum::DropTableSpaceStmt(_) => TxNeed::NoTransaction,
        // ADD VALUE, not RENAME VALUE (which names the value it renames):
        // only a new value is unusable until its transaction commits.
        NodeEnum::AlterEnumStmt(s) if s.old_val.is_empty() => TxNeed::NeedsCommit,
        _ => TxNeed::Any,
    }
}

/// Bytes of whitespace and comments before the first token, so that a
/// statement's line is where its code starts, not where the previous
/// statement's semicolon was.
fn leading_trivia(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i..].starts_with(b"--") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if bytes[i..].starts_with(b"/*") {
            // Postgres block comments nest.
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else {
            return i;
        }
    }
}

/// The parser's message does not carry its position through the crate's
/// API, so find it: the failing token is the first one at which a prefix of
/// the file stops failing only "at end of input" (prefixes that end inside
/// a statement fail that way, whole statements parse).
fn locate_parse_error(sql: &str, error: pg_query::Error) -> (usize, String) {
    let message = match error {
        pg_query::Error::Parse(m) => m,
        other => other.to_string(),
    };
    // No failing token means the error is "at end of input".
    let offset = failing_token(sql).unwrap_or(sql.trim_end().len());
    (offset, message)
}

/// Byte offset in `sql` of the token at which parsing fails.
fn failing_token(sql: &str) -> Option<usize> {
    let tokens = pg_query::scan(sql).ok()?.tokens;
    let fails_inside = |k: usize| {
        let end = tokens[k].end as usize;
        match pg_query::parse(&sql[..end]) {
            Ok(_) => false,
            Err(e) => !e.to_string().contains("at end of input"),
        }
    };
    // Binary search for the first k whose prefix fails inside: monotone,
    // since once the bad token is in, every longer prefix fails there too.
    let (mut lo, mut hi) = (0, tokens.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fails_inside(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    tokens.get(lo).map(|t| t.start as usize)
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str, expected: &str) {
        let actual = match split_range(sql, 0..sql.len()) {
            Ok(statements) => statements
                .iter()
                .map(|s| format!("{}:{} {:?} {}", s.line, s.column, s.tx, s.sql))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("error {}:{} {}", e.line, e.column, e.message),
        };
        assert_eq!(actual, expected, "splitting:\n{sql}");
    }

    #[test]
    fn splits_with_positions() {
        check(
            "-- init\nCREATE TABLE a (id int);\n\n  /* x /* nested */ */ CREATE INDEX ON a (id);",
            "2:1 Any CREATE TABLE a (id int)\n4:24 Any CREATE INDEX ON a (id)",
        );
    }

    #[test]
    fn dollar_quotes_and_atomic_bodies_stay_whole() {
        check(
            "DO $$ BEGIN PERFORM 1; END $$;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
            "1:1 Any DO $$ BEGIN PERFORM 1; END $$\n2:1 Any CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
        );
    }

    #[test]
    fn classifies_transaction_needs() {
        check(
            "BEGIN; CREATE INDEX CONCURRENTLY i ON t (a); ALTER TYPE e ADD VALUE 'x'; VACUUM t; COMMIT;",
            "1:1 Control BEGIN\n1:8 NoTransaction CREATE INDEX CONCURRENTLY i ON t (a)\n1:46 NeedsCommit ALTER TYPE e ADD VALUE 'x'\n1:74 NoTransaction VACUUM t\n1:84 Control COMMIT",
        );
        // A renamed value is usable at once: no commit needed.
        check(
            "ALTER TYPE e RENAME VALUE 'x' TO 'y'; ALTER TYPE e ADD VALUE IF NOT EXISTS 'z' AFTER 'y';",
            "1:1 Any ALTER TYPE e RENAME VALUE 'x' TO 'y'\n1:39 NeedsCommit ALTER TYPE e ADD VALUE IF NOT EXISTS 'z' AFTER 'y'",
        );
    }

    #[test]
    fn parse_errors_point_at_the_token() {
        check(
            "CREATE TABLE a (id int);\nCREATE TABLE b (\n  id int,\n  name txt nope\n);",
            "error 4:12 syntax error at or near \"nope\"",
        );
        check(
            "SELECT 1;\nSELEC 2;",
            "error 2:1 syntax error at or near \"SELEC\"",
        );
    }

    #[test]
    fn columns_count_characters() {
        check(
            "SELECT 'é'; SELECT 2",
            "1:1 Any SELECT 'é'\n1:13 Any SELECT 2",
        );
    }

    #[test]
    fn sections_are_located_in_the_whole_text() {
        let text = "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT\n  'é', 2; SELEC 3;";
        let render = |from: usize, to: usize| match split_range(text, from..to) {
            Ok(statements) => statements
                .iter()
                .map(|s| {
                    assert_eq!(&text[s.offset..s.offset + s.sql.len()], s.sql);
                    format!("{}:{} @{}", s.line, s.column, s.offset)
                })
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("error {}:{} {}", e.line, e.column, e.message),
        };
        let (down, bad) = (40, 57);
        assert_eq!(&text[down..bad], "SELECT\n  'é', 2;");
        assert_eq!(render(0, down), "2:1 @14");
        assert_eq!(render(down, bad), "4:1 @40");
        assert_eq!(
            render(down, text.len()),
            "error 5:11 syntax error at or near \"SELEC\""
        );
    }
}
