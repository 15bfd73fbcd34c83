//! Quoting and assembly for the SQL migcheck writes itself (legacy states
//! it builds, seed rows, its version table, its reads). Migrations' own
//! SQL is never rewritten.

/// `s` as an SQL string literal.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as a quoted SQL identifier.
pub(crate) fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One statement running every `SELECT` of `selects`, each result row
/// prefixed with the index of the `SELECT` it came from; `None` when
/// there are none. One round trip instead of one per table: reads
/// after every migration would otherwise grow with the schema.
pub(crate) fn union_all(selects: impl Iterator<Item = String>) -> Option<String> {
    let branches: Vec<String> = selects
        .enumerate()
        .map(|(index, select)| {
            let rest = select.strip_prefix("SELECT ").expect("a SELECT");
            format!("SELECT {index}::int4, {rest}")
        })
        .collect();
    (!branches.is_empty()).then(|| branches.join("\nUNION ALL\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_are_doubled() {
        assert_eq!(super::literal("it's"), "'it''s'");
        assert_eq!(super::ident("a\"b"), "\"a\"\"b\"");
    }
}
