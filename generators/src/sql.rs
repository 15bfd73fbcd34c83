//! Quoting for the SQL the generators render.

/// Key words Postgres will not take as a bare table or column name: its
/// "reserved" and "reserved (can be function or type)" key words (the
/// Postgres 15 key word appendix). Quoting a word that did not need it is
/// harmless, so the list errs on the side of quoting.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// `name` as an SQL identifier: bare when it is a plain lower-case word
/// that is not a reserved key word, else double-quoted.
pub fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `text` as an SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Identifiers joined for a column list: `a, "user", b`.
pub fn idents(names: &[String]) -> String {
    names
        .iter()
        .map(|n| ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed key word, quoted, is accepted where a bare one is not:
    /// the list holds no word that did not need quoting in these places.
    #[test]
    fn reserved_words_are_quoted_and_needed_it() {
        for word in RESERVED {
            let quoted = format!("CREATE TABLE {} ({} integer)", ident(word), ident(word));
            assert!(pg_query::parse(&quoted).is_ok(), "{quoted}");
            let bare = format!("CREATE TABLE {word} ({word} integer)");
            // system_user became reserved in Postgres 16; pg_query may
            // still take it bare, quoting it is harmless either way.
            if *word != "system_user" {
                assert!(
                    pg_query::parse(&bare).is_err(),
                    "{bare} parsed: {word} needs no quoting"
                );
            }
        }
    }

    #[test]
    fn odd_names_are_quoted() {
        assert_eq!(ident("jobs"), "jobs");
        assert_eq!(ident("Jobs"), "\"Jobs\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("1x"), "\"1x\"");
        assert_eq!(literal("o'clock"), "'o''clock'");
    }
}
