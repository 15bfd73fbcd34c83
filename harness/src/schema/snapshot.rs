//! Reading a [`Snapshot`] from `pg_catalog`.
//!
//! Every query here is a plain `SELECT` on the catalogs: taking a snapshot
//! must not write, start or end a transaction, or change session settings,
//! because it also runs inside a caller's sandbox transaction.
//!
//! Each query returns `kind` (the words of an [`ObjectKind`]), `name` (the
//! qualified name), then one column per attribute, named like the
//! attribute; NULL means the attribute is absent. So one decoder serves all
//! queries, and a new attribute is one more column. Booleans are cast to
//! text (`true`/`false`). `information_schema` is not used: it is slow and
//! hides what migcheck compares (index validity, NOT VALID).

use std::collections::BTreeMap;

use tokio_postgres::{Client, SimpleQueryMessage};

use super::{Object, ObjectKind, SchemaError, Snapshot};

/// Schemas that belong to Postgres. User schemas cannot start with `pg_`
/// (the server refuses), which also covers `pg_temp_N` and `pg_toast_temp_N`.
macro_rules! user_schema {
    ($n:literal) => {
        concat!(
            "(",
            $n,
            ".nspname !~ '^pg_' AND ",
            $n,
            ".nspname <> 'information_schema')"
        )
    };
}

/// Objects created by `CREATE EXTENSION` are the extension's business, not
/// the migrations'.
macro_rules! not_in_extension {
    ($catalog:literal, $oid:expr) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM pg_depend xd WHERE xd.classid = '",
            $catalog,
            "'::regclass AND xd.objid = ",
            $oid,
            " AND xd.deptype = 'e')"
        )
    };
}

/// `public` is left out because every database has it: a fresh database
/// then has no objects at all. `plpgsql` is always installed, likewise.
const SCHEMAS_AND_EXTENSIONS: &str = concat!(
    "SELECT 'schema' AS kind, n.nspname AS name, NULL AS version, NULL AS schema
     FROM pg_namespace n
     WHERE ",
    user_schema!("n"),
    " AND n.nspname <> 'public' AND ",
    not_in_extension!("pg_namespace", "n.oid"),
    "
     UNION ALL
     SELECT 'extension', e.extname, e.extversion, n.nspname
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname <> 'plpgsql'"
);

/// Tables, views, materialized views, sequences and composite types: one
/// scan of pg_class; each attribute is NULL for the kinds it does not fit.
const RELATIONS: &str = concat!(
    "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                           WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                           ELSE 'composite type' END AS object_kind,
            n.nspname || '.' || c.relname AS name,
            CASE c.relkind WHEN 'p' THEN 'partitioned' WHEN 'r' THEN 'ordinary' END AS kind,
            CASE WHEN c.relkind IN ('r', 'p') OR c.relpersistence = 'u' THEN
              CASE c.relpersistence WHEN 'u' THEN 'unlogged' WHEN 't' THEN 'temporary'
                                    ELSE 'permanent' END
            END AS persistence,
            -- Column order; compared as a minor difference (see diff.rs).
            CASE WHEN c.relkind IN ('r', 'p') THEN
              (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
               FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
            END AS columns,
            CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
            CASE WHEN c.relispartition THEN
              (SELECT pn.nspname || '.' || pc.relname
               FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
               JOIN pg_namespace pn ON pn.oid = pc.relnamespace
               WHERE i.inhrelid = c.oid)
            END AS partition_of,
            CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
            CASE WHEN c.relkind IN ('r', 'p') AND NOT c.relispartition THEN
              (SELECT string_agg(pn.nspname || '.' || pc.relname, ', ' ORDER BY i.inhseqno)
               FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
               JOIN pg_namespace pn ON pn.oid = pc.relnamespace
               WHERE i.inhrelid = c.oid)
            END AS inherits,
            CASE WHEN c.relkind IN ('r', 'p') THEN c.relrowsecurity::text END AS row_security,
            CASE WHEN c.relkind IN ('r', 'p') THEN c.relforcerowsecurity::text END AS force_row_security,
            array_to_string(c.reloptions, ', ') AS options,
            CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS definition,
            CASE WHEN c.relkind = 'm' THEN c.relispopulated::text END AS populated,
            format_type(s.seqtypid, NULL) AS type,
            s.seqstart AS start, s.seqincrement AS increment, s.seqmin AS min, s.seqmax AS max,
            s.seqcache AS cache, s.seqcycle::text AS cycle,
            CASE WHEN c.relkind = 'S' THEN
              (SELECT tn.nspname || '.' || tc.relname || '.' || a.attname
               FROM pg_depend d
               JOIN pg_class tc ON tc.oid = d.refobjid
               JOIN pg_namespace tn ON tn.oid = tc.relnamespace
               JOIN pg_attribute a ON a.attrelid = tc.oid AND a.attnum = d.refobjsubid
               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                 AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
                 AND d.deptype IN ('a', 'i')
               LIMIT 1)
            END AS owned_by,
            CASE WHEN c.relkind = 'c' THEN
              (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod),
                                 ', ' ORDER BY a.attnum)
               FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
            END AS attributes
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c') AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid"),
    // A composite type's extension membership is recorded on its pg_type row.
    " AND ",
    not_in_extension!("pg_type", "c.reltype")
);

/// Live user columns of tables. Dropped columns and `atthasmissing` are not
/// read at all: a table that had a column dropped equals one that never had it.
const COLUMNS: &str = concat!(
    "SELECT 'column' AS kind, n.nspname || '.' || c.relname || '.' || a.attname AS name,
            format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull::text AS not_null,
            CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS default,
            CASE a.attgenerated
              WHEN 's' THEN 'ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED'
              WHEN 'v' THEN 'ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') VIRTUAL'
            END AS generated,
            CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
            -- Only a collation other than the type's own says something.
            CASE WHEN a.attcollation <> t.typcollation THEN
              (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname)
                           ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
               FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
               WHERE co.oid = a.attcollation)
            END AS collation
     FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid")
);

/// Table constraints. PG18 stores NOT NULL as constraints (contype 'n');
/// nullability is already the column's `not_null`, so those are skipped.
const CONSTRAINTS: &str = concat!(
    "SELECT 'constraint' AS kind, n.nspname || '.' || c.relname || '.' || con.conname AS name,
            CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique'
                             WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check'
                             WHEN 'x' THEN 'exclusion' WHEN 't' THEN 'trigger'
                             ELSE con.contype::text END AS type,
            -- Validity is its own attribute; keeping it out of the
            -- definition reports a NOT VALID constraint once.
            regexp_replace(pg_get_constraintdef(con.oid), ' NOT VALID$', '') AS definition,
            con.convalidated::text AS validated
     FROM pg_constraint con
     JOIN pg_class c ON c.oid = con.conrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE con.contype <> 'n' AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid")
);

/// All indexes, including those behind constraints: an upgrade path that
/// creates the constraint differently may leave a different index.
const INDEXES: &str = concat!(
    "SELECT 'index' AS kind, n.nspname || '.' || ic.relname AS name,
            n.nspname || '.' || tc.relname AS table,
            pg_get_indexdef(i.indexrelid) AS definition,
            i.indisvalid::text AS valid
     FROM pg_index i
     JOIN pg_class ic ON ic.oid = i.indexrelid
     JOIN pg_class tc ON tc.oid = i.indrelid
     JOIN pg_namespace n ON n.oid = ic.relnamespace
     WHERE ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "tc.oid")
);

const ENUMS_AND_DOMAINS: &str = concat!(
    "SELECT CASE t.typtype WHEN 'e' THEN 'enum' ELSE 'domain' END AS kind,
            n.nspname || '.' || t.typname AS name,
            CASE WHEN t.typtype = 'e' THEN
              (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
               FROM pg_enum e WHERE e.enumtypid = t.oid)
            END AS labels,
            CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
            CASE WHEN t.typtype = 'd' THEN t.typnotnull::text END AS not_null,
            t.typdefault AS default,
            CASE WHEN t.typtype = 'd' THEN
              (SELECT string_agg(quote_ident(con.conname) || ' ' || pg_get_constraintdef(con.oid),
                                 E'\\n' ORDER BY con.conname)
               FROM pg_constraint con
               WHERE con.contypid = t.oid AND con.contype = 'c')
            END AS checks
     FROM pg_type t
     JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typtype IN ('e', 'd') AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_type", "t.oid")
);

/// Functions and procedures, keyed with their identity arguments so that
/// overloads are distinct. Aggregates are left out: `pg_get_functiondef`
/// rejects them.
const ROUTINES: &str = concat!(
    "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END AS kind,
            n.nspname || '.' || p.proname
              || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name,
            pg_get_functiondef(p.oid) AS definition
     FROM pg_proc p
     JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prokind IN ('f', 'p', 'w') AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_proc", "p.oid")
);

/// User triggers (not the internal ones behind foreign keys) and row
/// security policies.
const TRIGGERS_AND_POLICIES: &str = concat!(
    "SELECT 'trigger' AS kind, n.nspname || '.' || c.relname || '.' || t.tgname AS name,
            pg_get_triggerdef(t.oid, true) AS definition,
            CASE t.tgenabled WHEN 'O' THEN 'enabled' WHEN 'D' THEN 'disabled'
                             WHEN 'R' THEN 'enabled for replica only'
                             WHEN 'A' THEN 'enabled always' END AS enabled,
            NULL AS command, NULL AS permissive, NULL AS roles, NULL AS using, NULL AS with_check
     FROM pg_trigger t
     JOIN pg_class c ON c.oid = t.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT t.tgisinternal AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid"),
    "
     UNION ALL
     SELECT 'policy', n.nspname || '.' || c.relname || '.' || pol.polname,
            NULL, NULL,
            CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                            WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
            pol.polpermissive::text,
            (SELECT string_agg(r.name, ', ' ORDER BY r.name)
             FROM (SELECT CASE WHEN role = 0 THEN 'public'
                               ELSE quote_ident(pg_get_userbyid(role)) END AS name
                   FROM unnest(pol.polroles) AS role) r),
            pg_get_expr(pol.polqual, pol.polrelid),
            pg_get_expr(pol.polwithcheck, pol.polrelid)
     FROM pg_policy pol
     JOIN pg_class c ON c.oid = pol.polrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid")
);

/// How many catalog queries [`snapshot`] sends.
pub const QUERY_COUNT: usize = 8;

/// Reads the schema of the database `client` is connected to.
///
/// The [`QUERY_COUNT`] queries are issued together and pipelined on the
/// one connection (one round trip of latency; the server runs them one
/// after another), so the caller's connection task must be running.
pub async fn snapshot(client: &Client) -> Result<Snapshot, SchemaError> {
    let (a, b, c, d, e, f, g, h) = tokio::join!(
        read(client, "schemas and extensions", SCHEMAS_AND_EXTENSIONS),
        read(
            client,
            "tables, views, sequences and composite types",
            RELATIONS
        ),
        read(client, "columns", COLUMNS),
        read(client, "constraints", CONSTRAINTS),
        read(client, "indexes", INDEXES),
        read(client, "enums and domains", ENUMS_AND_DOMAINS),
        read(client, "functions and procedures", ROUTINES),
        read(client, "triggers and policies", TRIGGERS_AND_POLICIES),
    );
    let mut objects = BTreeMap::new();
    for part in [a, b, c, d, e, f, g, h] {
        for object in part? {
            objects.insert(object.key(), object);
        }
    }
    Ok(Snapshot { objects })
}

/// Runs one catalog query through the simple protocol: one round trip, no
/// prepared statement, and every value arrives as text, which is all a
/// snapshot holds.
async fn read(client: &Client, what: &'static str, sql: &str) -> Result<Vec<Object>, SchemaError> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|error| SchemaError::Query {
            what,
            message: match error.as_db_error() {
                Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                None => error.to_string(),
            },
        })?;
    let unexpected = |detail: String| SchemaError::UnexpectedRow { what, detail };
    let mut objects = Vec::new();
    for message in &messages {
        let SimpleQueryMessage::Row(row) = message else {
            continue;
        };
        let field = |i: usize| -> Result<Option<&str>, SchemaError> {
            row.try_get(i)
                .map_err(|e| unexpected(format!("column {i}: {e}")))
        };
        let (Some(kind), Some(name)) = (field(0)?, field(1)?) else {
            return Err(unexpected("NULL kind or name".to_owned()));
        };
        let kind = ObjectKind::from_words(kind)
            .ok_or_else(|| unexpected(format!("unknown object kind {kind:?}")))?;
        let mut attrs = BTreeMap::new();
        for (i, column) in row.columns().iter().enumerate().skip(2) {
            // Trailing whitespace carries no meaning: pg_get_functiondef ends
            // every definition with a newline.
            if let Some(value) = field(i)? {
                attrs.insert(column.name().to_owned(), value.trim_end().to_owned());
            }
        }
        objects.push(Object {
            kind,
            name: name.to_owned(),
            attrs,
        });
    }
    Ok(objects)
}
