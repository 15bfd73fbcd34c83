//! A snapshot as the generators see it: the tables of `public` with their
//! columns, indexes and constraints, and its enum types. Definitions are
//! read back from the text Postgres printed (`pg_get_indexdef`,
//! `pg_get_constraintdef`); what does not parse as a plain column list (an
//! expression index) keeps no columns, so no generator builds on it.

use generators::model::{Column, Constraint, ConstraintKind, EnumType, Index, Schema, Table};

use crate::schema::{ObjectKind, Snapshot};

/// The schema whose objects the generators may name.
pub const SCHEMA: &str = "public";

pub fn schema(snapshot: &Snapshot) -> Schema {
    let local = |name: &str| name.strip_prefix("public.").map(str::to_owned);
    let mut tables: Vec<Table> = snapshot
        .tables()
        .filter(|t| t.attr("kind") == Some("ordinary"))
        .filter_map(|t| local(&t.name))
        .map(|name| Table {
            name,
            columns: Vec::new(),
            indexes: Vec::new(),
            constraints: Vec::new(),
        })
        .collect();
    let mut enums = Vec::new();
    for object in snapshot.objects.values() {
        let Some(name) = local(&object.name) else {
            continue;
        };
        match object.kind {
            ObjectKind::Column => {
                let Some((table, column)) = name.split_once('.') else {
                    continue;
                };
                let Some(table) = tables.iter_mut().find(|t| t.name == table) else {
                    continue;
                };
                table.columns.push(Column {
                    name: column.to_owned(),
                    ty: object.attr("type").unwrap_or_default().to_owned(),
                    not_null: object.attr("not_null") == Some("true"),
                    default: object.attr("default").map(str::to_owned),
                    generated: object.attr("identity").is_some()
                        || object.attr("generated").is_some(),
                });
            }
            ObjectKind::Index => {
                let Some(table) = object.attr("table").and_then(local) else {
                    continue;
                };
                let definition = object.attr("definition").unwrap_or_default();
                let constraint = snapshot
                    .get(ObjectKind::Constraint, &format!("{SCHEMA}.{table}.{name}"))
                    .is_some();
                if let Some(table) = tables.iter_mut().find(|t| t.name == table) {
                    table.indexes.push(Index {
                        name,
                        columns: index_columns(definition).unwrap_or_default(),
                        unique: definition.starts_with("CREATE UNIQUE INDEX"),
                        constraint,
                    });
                }
            }
            ObjectKind::Constraint => {
                let Some((table, constraint)) = name.split_once('.') else {
                    continue;
                };
                let Some(table) = tables.iter_mut().find(|t| t.name == table) else {
                    continue;
                };
                let definition = object.attr("definition").unwrap_or_default();
                table.constraints.push(Constraint {
                    name: constraint.to_owned(),
                    kind: constraint_kind(object.attr("type"), definition),
                });
            }
            ObjectKind::Enum => enums.push(EnumType {
                name,
                labels: labels(object.attr("labels").unwrap_or_default()),
            }),
            _ => {}
        }
    }
    // Columns in the table's own order, as generated rows list them.
    for table in &mut tables {
        if let Some(order) = snapshot
            .get(ObjectKind::Table, &format!("{SCHEMA}.{}", table.name))
            .and_then(|t| t.attr("columns"))
            .and_then(column_list)
        {
            table
                .columns
                .sort_by_key(|c| order.iter().position(|o| *o == c.name));
        }
    }
    Schema { tables, enums }
}

/// `(a, "B c")` at the end of an index definition, as column names.
fn index_columns(definition: &str) -> Option<Vec<String>> {
    let start = definition.find(" USING ")?;
    let rest = &definition[start..];
    let open = rest.find('(')?;
    let close = rest.rfind(')')?;
    // A partial index (WHERE) or INCLUDE list: not a plain column list.
    if rest[close + 1..].trim() != "" {
        return None;
    }
    column_list(&rest[open + 1..close])
}

fn constraint_kind(kind: Option<&str>, definition: &str) -> ConstraintKind {
    let after = |prefix: &str| {
        definition
            .strip_prefix(prefix)
            .and_then(|rest| parenthesised(rest.trim_start()))
            .and_then(|(inside, rest)| Some((column_list(inside)?, rest)))
    };
    match kind {
        Some("primary key") => match after("PRIMARY KEY") {
            Some((columns, _)) => ConstraintKind::PrimaryKey { columns },
            None => ConstraintKind::Other,
        },
        Some("unique") => match after("UNIQUE") {
            Some((columns, _)) => ConstraintKind::Unique { columns },
            None => ConstraintKind::Other,
        },
        Some("foreign key") => {
            let Some((columns, rest)) = after("FOREIGN KEY") else {
                return ConstraintKind::Other;
            };
            let Some(rest) = rest.trim_start().strip_prefix("REFERENCES ") else {
                return ConstraintKind::Other;
            };
            let Some(open) = rest.find('(') else {
                return ConstraintKind::Other;
            };
            let table = unquote(&rest[..open]);
            let local = table.strip_prefix("public.").unwrap_or(&table).to_owned();
            match parenthesised(&rest[open..]).and_then(|(inside, _)| column_list(inside)) {
                Some(references) if !local.contains('.') => ConstraintKind::ForeignKey {
                    columns,
                    table: local,
                    references,
                },
                _ => ConstraintKind::Other,
            }
        }
        _ => ConstraintKind::Other,
    }
}

/// `(inside) rest` -> `(inside, rest)`, for a list without nested
/// parentheses.
fn parenthesised(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix('(')?;
    let close = rest.find(')')?;
    Some((&rest[..close], &rest[close + 1..]))
}

/// `a, "B c"` -> `["a", "B c"]`; `None` when an item is an expression.
fn column_list(text: &str) -> Option<Vec<String>> {
    text.split(", ")
        .map(|item| {
            let item = item.trim();
            let plain = item.starts_with('"') && item.ends_with('"') && item.len() > 1
                || !item.is_empty()
                    && item
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
            plain.then(|| unquote(item))
        })
        .collect()
}

fn unquote(name: &str) -> String {
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => name.to_owned(),
    }
}

/// `'a', 'b c'` -> `["a", "b c"]`.
fn labels(text: &str) -> Vec<String> {
    let mut labels = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    label.push('\'');
                    continue;
                }
                break;
            }
            label.push(c);
        }
        labels.push(label);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_index_and_constraint_definitions() {
        assert_eq!(
            index_columns("CREATE INDEX i ON public.t USING btree (a, \"B c\")"),
            Some(vec!["a".to_owned(), "B c".to_owned()])
        );
        assert_eq!(
            index_columns("CREATE INDEX i ON public.t USING btree (lower(a))"),
            None
        );
        assert_eq!(
            index_columns("CREATE INDEX i ON public.t USING btree (a) WHERE (a > 0)"),
            None
        );
        assert_eq!(
            constraint_kind(
                Some("foreign key"),
                "FOREIGN KEY (user_id) REFERENCES users(id)"
            ),
            ConstraintKind::ForeignKey {
                columns: vec!["user_id".into()],
                table: "users".into(),
                references: vec!["id".into()]
            }
        );
        assert_eq!(
            constraint_kind(Some("primary key"), "PRIMARY KEY (id)"),
            ConstraintKind::PrimaryKey {
                columns: vec!["id".into()]
            }
        );
        assert_eq!(
            constraint_kind(Some("check"), "CHECK ((id > 0))"),
            ConstraintKind::Other
        );
        assert_eq!(labels("'a', 'b c', 'it''s'"), vec!["a", "b c", "it's"]);
    }
}
