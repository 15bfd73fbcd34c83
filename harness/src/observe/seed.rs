//! Seed rows: a few generated rows in every empty user table, so that the
//! rollback check has data that a migration could lose. Values are made to
//! fit each column's type (enum labels, foreign keys taken from the
//! referenced table, distinct values per row so unique indexes hold);
//! columns with a default, identity or generation expression keep theirs.
//! A table whose rows cannot be made to fit (a check constraint, an
//! unusual type) stays empty: seeding never fails a run.
//!
//! Values respect what a column's type declares (an `ltree` gets labels,
//! a json column a document) and text is made of label characters, so a
//! later `text2ltree` of it holds. What a text column holds beyond that no
//! type says: [`rests_on_generated_values`] names the failures that a
//! later cast of such text gives, which rest on the generated rows alone.

use tokio_postgres::Client;

use crate::sandbox::Sandbox;
use crate::version_table;

/// Rows put into each empty table.
pub const ROWS: usize = 3;

/// One column as the generator sees it.
struct Column {
    name: String,
    type_name: String,
    /// `typcategory` of the type (or of a domain's base type).
    category: String,
    enum_labels: Vec<String>,
    /// The referenced table and column of a single-column foreign key.
    references: Option<(String, String)>,
    has_default: bool,
    not_null: bool,
}

/// Fills every empty user table (except the runners' version tables,
/// which are bookkeeping) with [`ROWS`] generated rows; returns the tables
/// filled. `empty` lists the empty tables where the caller knows them;
/// else every table is asked. Each table's insert runs in a transaction of
/// its own, or under a savepoint inside the sandbox's, so a rejected row
/// leaves nothing.
pub(super) async fn fill_empty_tables(
    sandbox: &Sandbox,
    empty: Option<Vec<String>>,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let client = sandbox.client();
    let empty = match empty {
        Some(empty) => empty
            .into_iter()
            .filter(|table| !crate::schema::is_bookkeeping(table))
            .collect(),
        None => empty_tables(client).await?,
    };
    // Referenced tables first: repeat while a pass fills something.
    let mut filled = Vec::new();
    loop {
        let before = filled.len();
        for table in &empty {
            if filled.contains(table) {
                continue;
            }
            let columns = columns(client, table).await?;
            if try_insert(sandbox, table, &columns).await? {
                filled.push(table.clone());
            }
        }
        if filled.len() == before {
            break;
        }
    }
    filled.sort();
    Ok(filled)
}

/// The user tables without rows, but the runners' version tables.
async fn empty_tables(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    let tables: Vec<String> = client
        .query(
            &format!(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg\\_%'
                   AND c.relname <> ALL ({})
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                   WHERE d.classid = 'pg_class'::regclass
                                     AND d.objid = c.oid AND d.deptype = 'e')
                 ORDER BY 1",
                crate::sql::literal(&format!("{{{}}}", version_table::NAMES.join(",")))
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let each = crate::sql::query_each(
        client,
        tables
            .iter()
            .map(|table| format!("SELECT NOT EXISTS (SELECT FROM {table})")),
    )
    .await?;
    Ok(tables
        .into_iter()
        .zip(each)
        .filter(|(_, rows)| rows[0].get(1))
        .map(|(table, _)| table)
        .collect())
}

async fn columns(client: &Client, table: &str) -> Result<Vec<Column>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
                    coalesce(bt.typcategory, t.typcategory)::text,
                    coalesce((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                              FROM pg_enum e WHERE e.enumtypid = a.atttypid), '{}'),
                    (SELECT quote_ident(rn.nspname) || '.' || quote_ident(rc.relname)
                     FROM pg_constraint f
                     JOIN pg_class rc ON rc.oid = f.confrelid
                     JOIN pg_namespace rn ON rn.oid = rc.relnamespace
                     WHERE f.conrelid = a.attrelid AND f.contype = 'f'
                       AND f.conkey = ARRAY[a.attnum] LIMIT 1),
                    (SELECT ra.attname::text
                     FROM pg_constraint f
                     JOIN pg_attribute ra ON ra.attrelid = f.confrelid AND ra.attnum = f.confkey[1]
                     WHERE f.conrelid = a.attrelid AND f.contype = 'f'
                       AND f.conkey = ARRAY[a.attnum] LIMIT 1),
                    a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
                    a.attnotnull
             FROM pg_attribute a
             JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&table],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            type_name: r.get(1),
            category: r.get(2),
            enum_labels: r.get(3),
            references: r
                .get::<_, Option<String>>(4)
                .zip(r.get::<_, Option<String>>(5)),
            has_default: r.get(6),
            not_null: r.get(7),
        })
        .collect())
}

/// Inserts the rows, all or none; false (and nothing inserted) when the
/// server rejects them.
async fn try_insert(
    sandbox: &Sandbox,
    table: &str,
    columns: &[Column],
) -> Result<bool, tokio_postgres::Error> {
    let mut names = Vec::new();
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); ROWS];
    for column in columns.iter().filter(|c| !c.has_default) {
        let mut values = Vec::new();
        for i in 0..ROWS {
            match value(table, column, i) {
                Some(v) => values.push(v),
                None if column.not_null => return Ok(false),
                None => values.push("NULL".into()),
            }
        }
        names.push(crate::sql::ident(&column.name));
        for (row, v) in rows.iter_mut().zip(values) {
            row.push(v);
        }
    }
    let insert = match names.is_empty() {
        true => (0..ROWS)
            .map(|_| format!("INSERT INTO {table} DEFAULT VALUES"))
            .collect::<Vec<_>>()
            .join("; "),
        false => format!(
            "INSERT INTO {table} ({}) VALUES {}",
            names.join(", "),
            rows.iter()
                .map(|r| format!("({})", r.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Ok(sandbox.attempt(&insert).await?.is_ok())
}

/// The SQL for row `i` of `column`, distinct per row; `None` when the
/// type is not one the generator knows.
fn value(table: &str, column: &Column, i: usize) -> Option<String> {
    let n = i + 1;
    if let Some((referenced, key)) = &column.references {
        return Some(format!(
            "(SELECT {key} FROM {referenced} ORDER BY 1 OFFSET {} LIMIT 1)",
            i,
            key = crate::sql::ident(key)
        ));
    }
    if !column.enum_labels.is_empty() {
        let label = &column.enum_labels[i % column.enum_labels.len()];
        return Some(format!(
            "{}::{}",
            crate::sql::literal(label),
            column.type_name
        ));
    }
    let typed = |literal: String| Some(format!("{literal}::{}", column.type_name));
    let ty = column.type_name.as_str();
    match column.category.as_str() {
        // Numbers: small, so that narrow types and numeric(p, s) hold them.
        "N" => typed(format!("'{n}'")),
        "B" => typed(format!("'{}'", i.is_multiple_of(2))),
        "S" => {
            // Label characters only (letters, digits, `_`): valid wherever
            // text is read as names, paths or ltree labels.
            let text: String = format!("{}_{}_{n}", column.name, table.rsplit('.').next()?)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            // Bounded strings keep their distinct suffix.
            let text = match ty.split_once('(') {
                Some((_, len)) => {
                    let max: usize = len.trim_end_matches(')').parse().ok()?;
                    let keep = max.saturating_sub(n.to_string().len() + 1);
                    format!("{}_{n}", &text[..text.len().min(keep)])
                }
                None => text,
            };
            typed(crate::sql::literal(&text))
        }
        "D" => match ty {
            "date" => typed(format!("'2024-01-0{n}'")),
            t if t.starts_with("time ") || t == "time" => typed(format!("'10:0{n}:00'")),
            _ => typed(format!("'2024-01-0{n} 10:00:00+00'")),
        },
        "T" => typed(format!("'{n} hours'")),
        "U" => match ty {
            "uuid" => typed(format!("'00000000-0000-4000-8000-00000000000{n}'")),
            "jsonb" | "json" => typed(format!("'{{\"n\": {n}}}'")),
            "bytea" => typed(format!("'\\x0{n}'")),
            t if is_ltree(t) => typed(format!("'seed.row_{n}'")),
            _ => None,
        },
        "I" => typed(format!("'10.0.0.{n}'")),
        "A" => match ty.strip_suffix("[]") {
            Some(element) if element == "text" || element.starts_with("character") => {
                typed(format!("'{{item-{n}}}'"))
            }
            Some("integer" | "bigint" | "smallint") => typed(format!("'{{{n}}}'")),
            _ => None,
        },
        _ => None,
    }
}

/// `ltree` as `format_type` prints it, schema-qualified when its schema
/// is not on the search path.
fn is_ltree(type_name: &str) -> bool {
    type_name.rsplit('.').next() == Some("ltree")
}

/// Whether a failure with this SQLSTATE, on a database holding generated
/// rows, comes from reading a generated value as another type than its
/// column's (a text cast to json or ltree, to a number or a date): the
/// values respect their columns' types, so what the text must look like
/// is the application's knowledge, not the schema's. Other failures (a
/// NOT NULL, a unique or a foreign key violated, a value too long for a
/// narrowed type) happen with any rows that fit the types.
pub(crate) fn rests_on_generated_values(sqlstate: &str) -> bool {
    matches!(
        sqlstate,
        // invalid_text_representation (json, uuid, numbers, enums),
        // invalid_datetime_format, datetime_field_overflow, and
        // syntax_error, which the input functions of ltree and other
        // extension types raise.
        "22P02" | "22007" | "22008" | "42601"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(type_name: &str, category: &str) -> Column {
        Column {
            name: "slug-name".into(),
            type_name: type_name.into(),
            category: category.into(),
            enum_labels: Vec::new(),
            references: None,
            has_default: false,
            not_null: true,
        }
    }

    fn check(type_name: &str, category: &str, expected: &str) {
        let got = value("public.\"my-table\"", &column(type_name, category), 0);
        assert_eq!(got.as_deref(), Some(expected), "{type_name}");
    }

    #[test]
    fn values_respect_their_types() {
        check("ltree", "U", "'seed.row_1'::ltree");
        check("public.ltree", "U", "'seed.row_1'::public.ltree");
        check("jsonb", "U", "'{\"n\": 1}'::jsonb");
        check("json", "U", "'{\"n\": 1}'::json");
        // Text is label characters: `text2ltree('root.' || slug)` holds.
        check("text", "S", "'slug_name__my_table__1'::text");
        check(
            "character varying(8)",
            "S",
            "'slug_n_1'::character varying(8)",
        );
    }

    #[test]
    fn only_casts_of_generated_text_rest_on_the_rows() {
        assert!(
            rests_on_generated_values("22P02"),
            "invalid input syntax for type json"
        );
        assert!(rests_on_generated_values("42601"), "ltree syntax error");
        assert!(
            !rests_on_generated_values("23502"),
            "NOT NULL: any row hits it"
        );
        assert!(
            !rests_on_generated_values("22001"),
            "a narrowed type truncates real data too"
        );
    }
}
