//! Splitting SQL that the bundled parser rejects, the way psql splits a
//! file: at semicolons outside parentheses and outside the `BEGIN ...
//! END` body of a SQL-standard `CREATE [OR REPLACE] FUNCTION | PROCEDURE`
//! (psql's `psqlscan.l` heuristic, `CASE ... END` counted inside it).
//!
//! The tokens come from Postgres' own scanner (`pg_query::scan`), so
//! quotes, `E''` strings, quoted identifiers, dollar quotes with tags and
//! nested comments are read as the server reads them: nothing here looks
//! at characters. The parser's grammar is one major behind the newest
//! server at times (Postgres 18's `ADD CONSTRAINT c NOT NULL col`); the
//! scanner's rules have not changed in years.

use std::ops::Range;

use pg_query::protobuf::{KeywordKind, ScanToken, Token};

/// The byte ranges of the statements of `sql`, each from its first token
/// to the end of its last, semicolons left out; pieces holding only
/// comments are left out. When the scanner rejects the text (an
/// unterminated quote or comment), all of it is one piece: what the server
/// will reject.
pub(super) fn split(sql: &str) -> Vec<Range<usize>> {
    let Ok(scanned) = pg_query::scan(sql) else {
        return std::iter::once(0..sql.len()).collect();
    };
    let mut pieces = Vec::new();
    let mut piece: Option<Range<usize>> = None;
    let mut head: Vec<String> = Vec::new();
    let (mut parens, mut begins) = (0usize, 0usize);
    for token in &scanned.tokens {
        let (start, end) = (token.start as usize, token.end as usize);
        match token.token() {
            Token::SqlComment | Token::CComment => continue,
            Token::Ascii59 if parens == 0 && begins == 0 => {
                pieces.extend(piece.take());
                head.clear();
                continue;
            }
            Token::Ascii40 => parens += 1,
            Token::Ascii41 => parens = parens.saturating_sub(1),
            _ => {
                if let Some(word) = word(sql, token) {
                    if head.len() < 4 {
                        head.push(word.clone());
                    }
                    if parens == 0 && routine(&head) {
                        match word.as_str() {
                            "begin" => begins += 1,
                            "case" if begins > 0 => begins += 1,
                            "end" => begins = begins.saturating_sub(1),
                            _ => {}
                        }
                    }
                }
            }
        }
        piece = Some(piece.map_or(start..end, |p| p.start..end));
    }
    pieces.extend(piece);
    pieces
}

/// The words of `sql` (keywords and unquoted identifiers, in lower case),
/// in order; none when the scanner rejects it.
pub(super) fn words(sql: &str) -> Vec<String> {
    let Ok(scanned) = pg_query::scan(sql) else {
        return Vec::new();
    };
    scanned.tokens.iter().filter_map(|t| word(sql, t)).collect()
}

/// The token's text in lower case when it is a word psql counts: a
/// keyword or an unquoted identifier.
fn word(sql: &str, token: &ScanToken) -> Option<String> {
    let text = sql.get(token.start as usize..token.end as usize)?;
    let keyword = token.keyword_kind() != KeywordKind::NoKeyword;
    let identifier = token.token() == Token::Ident && !text.starts_with('"');
    (keyword || identifier).then(|| text.to_ascii_lowercase())
}

/// Whether a statement starting with these words creates a function or a
/// procedure, whose SQL-standard body (`BEGIN ATOMIC ... END`) holds
/// semicolons.
fn routine(head: &[String]) -> bool {
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    matches!(
        head.as_slice(),
        ["create", "function" | "procedure", ..]
            | ["create", "or", "replace", "function" | "procedure"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `sql` and shows the pieces, one a line.
    fn check(sql: &str, expected: &[&str]) {
        let pieces: Vec<&str> = split(sql).into_iter().map(|r| &sql[r]).collect();
        assert_eq!(pieces, expected, "splitting:\n{sql}");
    }

    #[test]
    fn splits_at_semicolons_between_statements() {
        check(
            "ALTER TABLE t ADD CONSTRAINT c NOT NULL a;\n-- done; really\nSELECT 1;;\n\n",
            &["ALTER TABLE t ADD CONSTRAINT c NOT NULL a", "SELECT 1"],
        );
        // A missing semicolon is not seen: two statements make one piece,
        // which the server then rejects.
        check(
            "ALTER TABLE a DROP CONSTRAINT p\nALTER TABLE a ADD c int;\nSELECT 2",
            &[
                "ALTER TABLE a DROP CONSTRAINT p\nALTER TABLE a ADD c int",
                "SELECT 2",
            ],
        );
    }

    #[test]
    fn quotes_and_comments_hide_semicolons() {
        check(
            "SELECT 'a;b', E'c\\';d', \"e;f\" FROM t; SELECT 2",
            &["SELECT 'a;b', E'c\\';d', \"e;f\" FROM t", "SELECT 2"],
        );
        check(
            "DO $body$ BEGIN PERFORM ';'; $$;$$ END $body$; SELECT 3",
            &["DO $body$ BEGIN PERFORM ';'; $$;$$ END $body$", "SELECT 3"],
        );
        check(
            "/* one /* nested; */ still; */ SELECT 4; -- x;\nSELECT 5 -- y;",
            &["SELECT 4", "SELECT 5"],
        );
        check("SELECT (1; 2); SELECT 6", &["SELECT (1; 2)", "SELECT 6"]);
    }

    #[test]
    fn atomic_bodies_stay_whole() {
        check(
            "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;\n  SELECT 3;\nEND;\nBEGIN; COMMIT",
            &[
                "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;\n  SELECT 3;\nEND",
                "BEGIN",
                "COMMIT",
            ],
        );
        check(
            "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END; SELECT 7",
            &[
                "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END",
                "SELECT 7",
            ],
        );
    }

    #[test]
    fn what_the_scanner_rejects_is_one_piece() {
        check("SELECT 1; SELECT 'open", &["SELECT 1; SELECT 'open"]);
    }
}
