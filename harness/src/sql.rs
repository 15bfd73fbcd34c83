//! Quoting and assembly for the SQL migcheck writes itself (legacy states
//! it builds, seed rows, its version table, its reads). Migrations' own
//! SQL is never rewritten.

use tokio_postgres::{Client, Row};

/// `s` as an SQL string literal.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as a quoted SQL identifier.
pub(crate) fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Runs every `SELECT` of `selects` in one statement, and gives back the
/// rows of each, in order: one round trip instead of one per table, as
/// reads after every migration would otherwise grow with the schema. Each
/// row starts with the index of its `SELECT`; that `SELECT`'s own columns
/// follow, from column 1.
pub(crate) async fn query_each(
    client: &Client,
    selects: impl ExactSizeIterator<Item = String>,
) -> Result<Vec<Vec<Row>>, tokio_postgres::Error> {
    let mut each: Vec<Vec<Row>> = (0..selects.len()).map(|_| Vec::new()).collect();
    let branches: Vec<String> = selects
        .enumerate()
        .map(|(index, select)| {
            let rest = select.strip_prefix("SELECT ").expect("a SELECT");
            format!("SELECT {index}::int4, {rest}")
        })
        .collect();
    if branches.is_empty() {
        return Ok(each);
    }
    for row in client.query(&branches.join("\nUNION ALL\n"), &[]).await? {
        let index: i32 = row.get(0);
        each[index as usize].push(row);
    }
    Ok(each)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_are_doubled() {
        assert_eq!(super::literal("it's"), "'it''s'");
        assert_eq!(super::ident("a\"b"), "\"a\"\"b\"");
    }
}
