//! Quoting for the SQL migcheck writes itself (legacy states it builds,
//! seed rows, its version table). Migrations' own SQL is never rewritten.

/// `s` as an SQL string literal.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as a quoted SQL identifier.
pub(crate) fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_are_doubled() {
        assert_eq!(super::literal("it's"), "'it''s'");
        assert_eq!(super::ident("a\"b"), "\"a\"\"b\"");
    }
}
