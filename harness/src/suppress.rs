//! Inline suppression: a `--` comment on a statement, or on the comment
//! lines directly above it, that accepts one finding kind there, with a
//! reason. Both spellings are read:
//!
//! ```sql
//! -- migcheck:ignore non-idempotent-statement the runner tracks versions
//! -- migcheck: ignore blocking-index-build: the table holds 40 rows
//! CREATE INDEX accounts_email ON accounts (email);
//! ```
//!
//! Lint and `locks` findings can be suppressed. A directive without a
//! reason, or with another kind, is an error, not a finding: a typo must
//! not silently stop suppressing.

use std::path::PathBuf;

use crate::finding::Kind;
use crate::migrations::Migration;

/// A `-- migcheck: ignore` comment that is malformed.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct SuppressionError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// A valid directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// 1-based line of the comment.
    pub line: usize,
    pub kind: Kind,
    pub reason: String,
}

const EXAMPLE: &str = "`-- migcheck: ignore blocking-index-build: the table holds 40 rows`";

/// The kinds a directive may name: lint's and `locks`'.
pub const SUPPRESSIBLE: [Kind; 10] = [
    Kind::IndexBeforeColumn,
    Kind::NonIdempotentStatement,
    Kind::TxIncompatible,
    Kind::TableRewrite,
    Kind::LongExclusiveLock,
    Kind::BlockingIndexBuild,
    Kind::BlockingConstraintIndex,
    Kind::BlockingValidation,
    Kind::MissingLockTimeout,
    Kind::UnindexedForeignKey,
];

/// The directives of a migration's up script, or the first malformed one.
pub fn directives(migration: &Migration) -> Result<Vec<Directive>, SuppressionError> {
    let mut found = Vec::new();
    for (i, line) in migration.up.sql.lines().enumerate() {
        let error = |message: String| SuppressionError {
            path: migration.path.clone(),
            line: i + 1,
            message,
        };
        // Every `--` on the line, since an earlier one may be inside a
        // string literal.
        let Some(rest) = line.match_indices("--").find_map(|(at, _)| {
            let comment = line[at..].trim_start_matches('-').trim_start();
            let rest = comment.strip_prefix("migcheck:")?.trim_start();
            let rest = rest.strip_prefix("ignore")?;
            (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
        }) else {
            continue;
        };
        let rest = rest.trim();
        let (kind, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let kind = kind.trim_end_matches(':');
        if kind.is_empty() {
            return Err(error(format!(
                "`-- migcheck: ignore` needs a kind and a reason, like {EXAMPLE}"
            )));
        }
        let Some(kind) = SUPPRESSIBLE.into_iter().find(|k| k.as_str() == kind) else {
            return Err(error(format!(
                "`-- migcheck: ignore {kind}`: only lint and locks findings can be ignored here ({}); write it like {EXAMPLE}",
                known()
            )));
        };
        let reason = reason.trim().trim_start_matches(':').trim();
        if reason.is_empty() {
            return Err(error(format!(
                "`-- migcheck: ignore {kind}` needs a reason after the kind, so that the next reader knows why, like {EXAMPLE}"
            )));
        }
        found.push(Directive {
            line: i + 1,
            kind,
            reason: reason.to_string(),
        });
    }
    Ok(found)
}

fn known() -> String {
    SUPPRESSIBLE.map(Kind::as_str).join(", ")
}

/// The directive for `kind` attached to lines `first..=last` of a file
/// (`lines`): on one of them, or in the run of `--` comment lines directly
/// above the first.
pub fn attached<'d>(
    directives: &'d [Directive],
    lines: &[&str],
    kind: Kind,
    first: usize,
    last: usize,
) -> Option<&'d Directive> {
    directives.iter().filter(|d| d.kind == kind).find(|d| {
        (first..=last).contains(&d.line) || comments_above(lines, first).contains(&d.line)
    })
}

/// The run of `--` comment lines directly above 1-based line `line`.
fn comments_above(lines: &[&str], line: usize) -> std::ops::Range<usize> {
    let mut top = line;
    while top > 1
        && lines
            .get(top - 2)
            .is_some_and(|l| l.trim_start().starts_with("--"))
    {
        top -= 1;
    }
    top..line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::Script;

    fn migration(sql: &str) -> Migration {
        let path = PathBuf::from("1_a.sql");
        Migration {
            version: "1".into(),
            name: "1_a.sql".into(),
            path: path.clone(),
            up: Script::parse(&path, sql.to_string()).expect("parses"),
            down: None,
            transaction: true,
        }
    }

    #[test]
    fn every_suppressible_kind_is_lints_or_locks() {
        for kind in SUPPRESSIBLE {
            assert!(matches!(
                kind.check(),
                Some(crate::finding::Check::Lint | crate::finding::Check::Locks)
            ));
        }
    }

    #[test]
    fn both_spellings_are_read() {
        let found = directives(&migration(
            "-- migcheck:ignore non-idempotent-statement tracked\n-- migcheck: ignore blocking-index-build: 40 rows\nCREATE INDEX i ON t (a);\n",
        ))
        .expect("valid directives");
        assert_eq!(
            found,
            vec![
                Directive {
                    line: 1,
                    kind: Kind::NonIdempotentStatement,
                    reason: "tracked".into()
                },
                Directive {
                    line: 2,
                    kind: Kind::BlockingIndexBuild,
                    reason: "40 rows".into()
                },
            ]
        );
        let lines: Vec<&str> = "-- a\n-- b\nCREATE INDEX i ON t (a);".lines().collect();
        assert!(attached(&found, &lines, Kind::BlockingIndexBuild, 3, 3).is_some());
        assert!(attached(&found, &lines, Kind::TableRewrite, 3, 3).is_none());
    }

    #[test]
    fn malformed_directives_are_errors() {
        let error = |sql: &str| {
            directives(&migration(sql))
                .expect_err("malformed")
                .to_string()
        };
        assert_eq!(
            error("SELECT 1; -- migcheck: ignore blocking-index-build:\n"),
            "1_a.sql:1: `-- migcheck: ignore blocking-index-build` needs a reason after the kind, so that the next reader knows why, like `-- migcheck: ignore blocking-index-build: the table holds 40 rows`"
        );
        assert!(
            error("-- migcheck: ignore rerun-failed: no\n")
                .starts_with("1_a.sql:1: `-- migcheck: ignore rerun-failed`: only lint and locks findings can be ignored here (index-before-column, ")
        );
        assert!(error("-- migcheck:ignore\n").contains("needs a kind and a reason"));
    }
}
