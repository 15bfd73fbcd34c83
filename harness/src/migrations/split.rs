//! Splitting SQL into statements with the real Postgres parser
//! (libpg_query), and locating them in their file.
//!
//! Never split on semicolons by hand: dollar quotes, `BEGIN ATOMIC` bodies
//! and comments break that. Where the parser rejects a file, `lexical`
//! splits it on the scanner's tokens the way psql does, and each piece is
//! parsed on its own: a piece that still fails is kept, marked
//! [`Statement::rejected`], for the server to judge. The bundled grammar is
//! Postgres 17's; a newer server accepts more, and a syntax error is the
//! server's to report, as a finding on its file.

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
    /// The bundled parser's message when it rejects the statement (syntax
    /// newer than its grammar, or an error the server will report too).
    /// The statement was split lexically; it runs like any other, and
    /// static analysis (lint, the guard) skips it and says so.
    pub rejected: Option<String>,
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
/// errors, are positions in the whole of `text`. Only a NUL byte is an
/// error: it cannot be sent to a server, and marks a binary file.
pub(super) fn split_range(
    text: &str,
    lines: &LineIndex,
    range: Range<usize>,
) -> Result<Vec<Statement>, SplitError> {
    if let Some(offset) = text[range.clone()].find('\0') {
        let (line, column) = lines.line_column(text, range.start + offset);
        return Err(SplitError {
            line,
            column,
            message: "contains a NUL byte; is this a binary file?".into(),
        });
    }
    if let Ok(statements) = parse(text, lines, range.clone()) {
        return Ok(statements);
    }
    // Each piece on its own, so that one statement in newer syntax (or a
    // broken one) leaves the others parsed and analysed.
    let mut statements = Vec::new();
    for piece in super::lexical::split(&text[range.clone()]) {
        let piece = range.start + piece.start..range.start + piece.end;
        match parse(text, lines, piece.clone()) {
            Ok(parsed) => statements.extend(parsed),
            Err(message) => statements.extend(rejected(text, lines, piece, message)),
        }
    }
    Ok(statements)
}

/// The statements of `text[range]` as the parser splits them, or its
/// message when it rejects them. The parser splits without building the
/// tree of the whole text (a tree costs memory many times the size of the
/// file); a statement's own tree is built only when its words say it may
/// need more than `Any` of its transaction.
fn parse(text: &str, lines: &LineIndex, range: Range<usize>) -> Result<Vec<Statement>, String> {
    let base = range.start;
    let sql = &text[range];
    let pieces = pg_query::split_with_parser(sql).map_err(|e| match e {
        pg_query::Error::Split(message) | pg_query::Error::Parse(message) => message,
        other => other.to_string(),
    })?;
    let mut statements = Vec::new();
    for piece in pieces {
        // A slice of `sql`: its place is its distance from the start.
        let start = piece.as_ptr() as usize - sql.as_ptr() as usize;
        let tx = tx_need_of_accepted(piece);
        statements.extend(located(
            text,
            lines,
            base + start..base + start + piece.len(),
            tx,
            None,
        ));
    }
    Ok(statements)
}

/// What a statement the parser accepts needs of its transaction, read from
/// its tree (`tx_need`). Every statement that `tx_need` does not call `Any`
/// holds one of these keywords, so a statement without any is `Any`
/// without building its tree.
fn tx_need_of_accepted(sql: &str) -> TxNeed {
    const MAY_NEED: &[&str] = &[
        "begin",
        "start",
        "commit",
        "end",
        "rollback",
        "abort",
        "savepoint",
        "release",
        "prepare",
        "concurrently",
        "vacuum",
        "analyze",
        "analyse",
        "system",
        "database",
        "tablespace",
        "value",
    ];
    let words = super::lexical::words(sql);
    if !words.iter().any(|w| MAY_NEED.contains(&w.as_str())) {
        return TxNeed::Any;
    }
    pg_query::parse(sql)
        .ok()
        .and_then(|parsed| parsed.protobuf.stmts.into_iter().next())
        .and_then(|raw| raw.stmt)
        .and_then(|node| node.node)
        .map_or(TxNeed::Any, |node| tx_need(&node))
}

/// A piece of text the parser rejected, as a statement for the server.
fn rejected(
    text: &str,
    lines: &LineIndex,
    range: Range<usize>,
    message: String,
) -> Option<Statement> {
    let tx = tx_need_of_words(&super::lexical::words(&text[range.clone()]));
    located(text, lines, range, tx, Some(message))
}

/// What a statement the parser rejected needs of its transaction, read
/// from its words as `tx_need` reads it from the parse tree: so that the
/// sandbox choice and the transaction mode of a plain file stay right for
/// a statement in newer syntax.
fn tx_need_of_words(words: &[String]) -> TxNeed {
    let has = |w: &str| words.iter().any(|x| x == w);
    let head: Vec<&str> = words.iter().take(2).map(String::as_str).collect();
    match head.as_slice() {
        [
            "begin" | "start" | "commit" | "end" | "rollback" | "abort" | "savepoint" | "release",
            ..,
        ]
        | ["prepare", "transaction"] => TxNeed::Control,
        ["vacuum", ..] | ["alter", "system"] | ["create" | "drop", "database" | "tablespace"] => {
            TxNeed::NoTransaction
        }
        ["alter", "type"] if words.windows(2).any(|w| w == ["add", "value"]) => TxNeed::NeedsCommit,
        // REFRESH MATERIALIZED VIEW CONCURRENTLY runs in a transaction;
        // the other CONCURRENTLY forms refuse one.
        ["refresh", ..] => TxNeed::Any,
        _ if has("concurrently") => TxNeed::NoTransaction,
        _ => TxNeed::Any,
    }
}

/// The statement in `text[range]`, from its first token (comments before
/// it left out) to its end; `None` when there is no token.
fn located(
    text: &str,
    lines: &LineIndex,
    range: Range<usize>,
    tx: TxNeed,
    rejected: Option<String>,
) -> Option<Statement> {
    let first = range.start + leading_trivia(&text[range.clone()]);
    let statement = text[first..range.end].trim_end();
    if statement.is_empty() {
        return None;
    }
    let (line, column) = lines.line_column(text, first);
    Some(Statement {
        sql: statement.to_string(),
        offset: first,
        line,
        column,
        tx,
        rejected,
    })
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

/// Where each line of a text starts, and how many characters precede
/// every block of it: built once per file in one pass, so that locating
/// an offset costs a binary search and at most a block's worth of bytes,
/// however many statements a file has and however long its lines are.
#[derive(Debug, Clone, Default)]
pub(super) struct LineIndex {
    /// Byte offset of the start of every line, the first being 0.
    starts: Vec<usize>,
    /// Characters before the start of every block of the text (`i *
    /// BLOCK`, or the character boundary before it).
    chars: Vec<usize>,
}

const BLOCK: usize = 512;

impl LineIndex {
    pub(super) fn new(text: &str) -> LineIndex {
        // `match_indices` and `chars().count()` are the standard library's
        // (memchr, counting by words): fast even in a debug build.
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut chars = Vec::with_capacity(text.len() / BLOCK + 1);
        let (mut before, mut from) = (0, 0);
        for block in 0..=text.len() / BLOCK {
            let to = block_start(text, block);
            before += text[from..to].chars().count();
            chars.push(before);
            from = to;
        }
        LineIndex { starts, chars }
    }

    /// 1-based line and column (in characters) of a byte offset of `text`,
    /// the text this index was built from.
    pub(super) fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        // The last line starting at or before the offset.
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        let column = self.chars_before(text, offset) - self.chars_before(text, start);
        (line, column + 1)
    }

    /// Characters in `text[..offset]`; `offset` is a character boundary.
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        let block = offset / BLOCK;
        self.chars[block] + text[block_start(text, block)..offset].chars().count()
    }
}

/// Where block `block` starts: at `block * BLOCK`, or the character
/// boundary before it.
fn block_start(text: &str, block: usize) -> usize {
    let mut at = (block * BLOCK).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// 1-based line and column (in characters) of a byte offset, for a text
/// located once (a configuration file's error); a script keeps a
/// [`LineIndex`] instead.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(text).line_column(text, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str, expected: &str) {
        let actual = match split_range(sql, &LineIndex::new(sql), 0..sql.len()) {
            Ok(statements) => statements
                .iter()
                .map(|s| {
                    let rejected = s
                        .rejected
                        .as_ref()
                        .map_or(String::new(), |m| format!(" (rejected: {m})"));
                    format!("{}:{} {:?} {}{rejected}", s.line, s.column, s.tx, s.sql)
                })
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
    fn what_the_parser_rejects_is_split_like_psql_and_kept_for_the_server() {
        check(
            "CREATE TABLE a (id int);\nCREATE TABLE b (\n  id int,\n  name txt nope\n);\nCREATE INDEX CONCURRENTLY i ON a (id) NEWER;\nSELECT 'x;y';",
            "1:1 Any CREATE TABLE a (id int)\n\
             2:1 Any CREATE TABLE b (\n  id int,\n  name txt nope\n) (rejected: syntax error at or near \"nope\")\n\
             6:1 NoTransaction CREATE INDEX CONCURRENTLY i ON a (id) NEWER (rejected: syntax error at or near \"NEWER\")\n\
             7:1 Any SELECT 'x;y'",
        );
        // Postgres 18's NOT NULL constraint, and a missing semicolon,
        // which makes one piece of two statements.
        check(
            "-- pg18\nALTER TABLE t ADD CONSTRAINT c NOT NULL a;\nALTER TABLE t DROP CONSTRAINT p\nALTER TABLE t ADD d int;",
            "2:1 Any ALTER TABLE t ADD CONSTRAINT c NOT NULL a (rejected: syntax error at or near \"NOT\")\n\
             3:1 Any ALTER TABLE t DROP CONSTRAINT p\nALTER TABLE t ADD d int (rejected: syntax error at or near \"ALTER\")",
        );
        check(
            "SELECT 1;\0",
            "error 1:10 contains a NUL byte; is this a binary file?",
        );
    }

    #[test]
    fn transaction_needs_of_rejected_statements_are_read_from_words() {
        let needs: Vec<TxNeed> = [
            "CREATE INDEX CONCURRENTLY i ON t (a) WITH (newer = syntax)",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY v",
            "begin isolation level newer",
            "ALTER TYPE e ADD VALUE 'x' NEWER",
            "VACUUM (NEWER) t",
            "ALTER TABLE t ADD CONSTRAINT c NOT NULL a",
        ]
        .iter()
        .map(|sql| tx_need_of_words(&crate::migrations::lexical::words(sql)))
        .collect();
        use TxNeed::*;
        assert_eq!(
            needs,
            [NoTransaction, Any, Control, NeedsCommit, NoTransaction, Any]
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
    fn the_keyword_shortcut_classifies_as_the_tree_does() {
        let statements = [
            "BEGIN",
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "COMMIT",
            "END",
            "ABORT",
            "SAVEPOINT s",
            "RELEASE SAVEPOINT s",
            "PREPARE TRANSACTION 'x'",
            "COMMIT PREPARED 'x'",
            "ROLLBACK PREPARED 'x'",
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            "DROP INDEX CONCURRENTLY i",
            "REINDEX (CONCURRENTLY) INDEX i",
            "REINDEX INDEX i",
            "VACUUM t",
            "ANALYZE t",
            "ALTER SYSTEM SET work_mem = '1MB'",
            "CREATE DATABASE d",
            "DROP DATABASE d",
            "CREATE TABLESPACE s LOCATION '/x'",
            "DROP TABLESPACE s",
            "ALTER TYPE e ADD VALUE 'x'",
            "ALTER TYPE e RENAME VALUE 'x' TO 'y'",
            "INSERT INTO t VALUES (1, 'begin; commit')",
            "SELECT CASE WHEN a THEN 1 END FROM t",
            "DO $$ BEGIN VACUUM; END $$",
            "CREATE TABLE \"begin\" (\"concurrently\" int)",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY v",
        ];
        for sql in statements {
            let parsed = pg_query::parse(sql).expect(sql);
            let node = parsed.protobuf.stmts[0]
                .stmt
                .as_ref()
                .and_then(|n| n.node.as_ref());
            let tree = node.map_or(TxNeed::Any, tx_need);
            assert_eq!(tx_need_of_accepted(sql), tree, "{sql}");
        }
    }

    #[test]
    fn the_index_locates_like_counting_from_the_start() {
        // What `LineIndex` replaces: correct, and quadratic per file.
        fn counted(text: &str, offset: usize) -> (usize, usize) {
            let mut offset = offset.min(text.len());
            while !text.is_char_boundary(offset) {
                offset -= 1;
            }
            let before = &text[..offset];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            (
                before.matches('\n').count() + 1,
                before[line_start..].chars().count() + 1,
            )
        }
        // Lines longer than a block, characters of every width across
        // block boundaries, and an empty text.
        let long = "é€😀x".repeat(BLOCK / 3);
        let texts = [
            String::new(),
            "\n\n".to_string(),
            format!("SELECT '{long}';\n\nSELECT 2;\n{long}\n"),
            "a\nbé\n".repeat(BLOCK),
        ];
        for text in &texts {
            let lines = LineIndex::new(text);
            for offset in (0..=text.len() + 1).step_by(7).chain([text.len()]) {
                assert_eq!(
                    lines.line_column(text, offset),
                    counted(text, offset),
                    "offset {offset} of a text of {} bytes",
                    text.len()
                );
            }
        }
    }

    #[test]
    fn sections_are_located_in_the_whole_text() {
        let text = "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT\n  'é', 2; SELEC 3;";
        let lines = LineIndex::new(text);
        let render = |from: usize, to: usize| match split_range(text, &lines, from..to) {
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
        assert_eq!(render(down, text.len()), "4:1 @40 5:11 @58");
    }
}
