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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

/// Every object a user creates has an OID of at least 16384
/// (`FirstNormalObjectId`; OIDs wrap around to it, never below), so each
/// query says `oid >= 16384`: an index range scan that skips the thousands
/// of built-in rows of pg_proc, pg_attribute or pg_description, which
/// otherwise dominate the cost of a small schema's snapshot.
///
/// Objects created by `CREATE EXTENSION` are the extension's business, not
/// the migrations'.
///
/// `OFFSET 0` keeps the test a lookup per object in pg_depend's index:
/// pulled up into an anti-join, the planner may scan all of pg_depend
/// (thousands of built-in rows) once per query, which was most of a small
/// schema's snapshot.
macro_rules! not_in_extension {
    ($catalog:literal, $oid:expr) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM pg_depend xd WHERE xd.classid = '",
            $catalog,
            "'::regclass AND xd.objid = ",
            $oid,
            " AND xd.deptype = 'e' OFFSET 0)"
        )
    };
}

/// `public` is left out because every database has it: a fresh database
/// then has no objects at all. `plpgsql` is always installed, likewise.
const SCHEMAS_AND_EXTENSIONS: &str = concat!(
    "SELECT 'schema' AS kind, n.nspname AS name, NULL AS version, NULL AS schema
     FROM pg_namespace n
     WHERE n.oid >= 16384 AND ",
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
            END AS attributes,
            c.oid AS _unit
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
     WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c') AND {UNITS c.oid} AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid"),
    // A composite type's extension membership is recorded on its pg_type row.
    " AND ",
    not_in_extension!("pg_type", "c.reltype")
);

/// Live user columns of tables. Dropped columns and `atthasmissing` are not
/// read at all: a table that had a column dropped equals one that never had it.
///
/// `_table`, `_position` and `_ident` are not attributes: [`snapshot`]
/// assembles each table's `columns` (the column order) from them, which is
/// cheaper than a subquery per table.
///
/// `{NOT_NULL_VALIDATED}`: PG18 stores NOT NULL as a constraint, which can
/// be NOT VALID; earlier majors have no such state, so the attribute is
/// only ever set (to `false`) on PG18 and later.
///
/// The plan is forced, because a sandbox's catalog statistics lie: it is
/// a database made from `template0`, whose statistics say there are no
/// user rows, and after autovacuum has cleaned up rolled-back sandboxes
/// they may say pg_attrdef is empty. Planned freely, the tables were read
/// again for every column, or all defaults for every column: a cost that
/// grew with the square of the schema. So the tables come first (each
/// `OFFSET 0` keeps its subquery apart), then each table's columns,
/// `LATERAL`, and the rest is a lookup by key, made only for the columns
/// that need it (a default, a collatable type, PG18's NOT NULL): joined,
/// the planner hashed all of pg_type again for every table.
const COLUMNS: &str = concat!(
    "SELECT 'column' AS kind, c.name || '.' || a.attname AS name,
            c.name AS _table, a.attnum AS _position, c.oid AS _unit,
            quote_ident(a.attname) AS _ident,
            format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull::text AS not_null,
            {NOT_NULL_VALIDATED} AS not_null_validated,
            -- A default cannot refer to a column, so it needs no relation
            -- to deparse in (0): several times cheaper than its relid.
            CASE WHEN a.atthasdef AND a.attgenerated = '' THEN
              (SELECT pg_get_expr(ad.adbin, 0) FROM pg_attrdef ad
               WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum)
            END AS default,
            CASE WHEN a.atthasdef AND a.attgenerated <> '' THEN
              (SELECT 'ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') '
                      || CASE a.attgenerated WHEN 's' THEN 'STORED' ELSE 'VIRTUAL' END
               FROM pg_attrdef ad WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum)
            END AS generated,
            CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
            -- Only a collation other than the type's own says something
            -- (looked up for collatable columns only).
            CASE WHEN a.attcollation <> 0 AND a.attcollation <>
                      (SELECT t.typcollation FROM pg_type t WHERE t.oid = a.atttypid) THEN
              (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname)
                           ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
               FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
               WHERE co.oid = a.attcollation)
            END AS collation
     FROM (SELECT c.oid, n.nspname || '.' || c.relname AS name
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p') AND {UNITS c.oid} AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid"),
    "
           OFFSET 0) c
     CROSS JOIN LATERAL (
       SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
              a.atthasdef, a.attgenerated, a.attidentity, a.attcollation
       FROM pg_attribute a
       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       OFFSET 0) a"
);

/// PG18: whether a NOT NULL column's constraint is NOT VALID.
const NOT_NULL_VALIDATED_18: &str = "CASE WHEN a.attnotnull AND EXISTS (
       SELECT 1 FROM pg_constraint nn
       WHERE nn.conrelid = a.attrelid AND nn.contype = 'n' AND NOT nn.convalidated
         AND nn.conkey[1] = a.attnum) THEN 'false' END";

/// Table constraints. PG18 stores NOT NULL as constraints (contype 'n');
/// nullability is already the column's `not_null` (and its validity
/// `not_null_validated`), so those are skipped, names and all: earlier
/// majors have no name for them. pg_get_constraintdef ends the definition
/// of a NOT VALID constraint with " NOT VALID" (and evaluates once per row
/// that needs it). `{PLAIN_KEY}` excludes what later majors print more
/// of: PG15's `NULLS NOT DISTINCT`, PG18's `WITHOUT OVERLAPS`.
const CONSTRAINTS: &str = concat!(
    "SELECT 'constraint' AS kind, n.nspname || '.' || c.relname || '.' || con.conname AS name,
            CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique'
                             WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check'
                             WHEN 'x' THEN 'exclusion' WHEN 't' THEN 'trigger'
                             ELSE con.contype::text END AS type,
            -- Validity is its own attribute; keeping it out of the
            -- definition reports a NOT VALID constraint once.
            COALESCE(
              -- Primary keys and unique constraints on plain columns,
              -- spelled as pg_get_constraintdef does, without its catalog
              -- lookups per row: a subquery per constraint, so that each
              -- of its rows is an index lookup whatever the statistics
              -- say (joined to all keys at once, a sandbox's plan read
              -- them all again for every constraint).
              CASE WHEN con.contype IN ('p', 'u') AND NOT con.condeferrable THEN
                (SELECT CASE con.contype WHEN 'p' THEN 'PRIMARY KEY (' ELSE 'UNIQUE (' END
                        || string_agg(quote_ident((SELECT a.attname FROM pg_attribute a
                                                   WHERE a.attrelid = con.conrelid
                                                     AND a.attnum = k.attnum)),
                                      ', ' ORDER BY k.n) || ')'
                 FROM pg_index i
                 JOIN pg_class ic ON ic.oid = i.indexrelid
                 CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
                 WHERE i.indexrelid = con.conindid AND i.indnatts = i.indnkeyatts
                   AND ic.reloptions IS NULL AND ic.reltablespace = 0 {PLAIN_KEY})
              END,
              CASE WHEN con.convalidated THEN pg_get_constraintdef(con.oid)
                   ELSE regexp_replace(pg_get_constraintdef(con.oid), ' NOT VALID$', '') END)
              AS definition,
            con.convalidated::text AS validated,
            c.oid AS _unit
     FROM pg_constraint con
     JOIN pg_class c ON c.oid = con.conrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE con.oid >= 16384 AND con.contype <> 'n' AND {UNITS c.oid} AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid")
);

/// All indexes, including those behind constraints: an upgrade path that
/// creates the constraint differently may leave a different index.
///
/// The CTEs are `MATERIALIZED` (computed once): inlined, the planner may
/// run their aggregate again for every row of the outer query.
///
/// `definition` is what `pg_get_indexdef` prints, but for the common index
/// (btree on plain columns, default operator classes and collations, no
/// predicate, options or tablespace) it is spelled here in SQL instead:
/// `pg_get_indexdef` looks up the default operator class of every column
/// with an uncached catalog scan, which made it most of a snapshot's cost
/// on a thousand tables. `tests/schema.rs` checks that both spellings agree
/// on every index shape. `{NULLS_NOT_DISTINCT}` is PG15's `NULLS NOT
/// DISTINCT`, empty before.
const INDEXES: &str = concat!(
    "WITH keys AS MATERIALIZED (
       -- One row per index column, for all indexes at once: set-based joins
       -- are far cheaper than a subquery per index.
       SELECT i.indexrelid, k.n, k.n <= i.indnkeyatts AS is_key,
              quote_ident(a.attname)
                || CASE WHEN k.n > i.indnkeyatts THEN ''
                        WHEN i.indoption[k.n - 1] & 1 = 1 -- DESC
                        THEN ' DESC' || CASE WHEN i.indoption[k.n - 1] & 2 = 0 THEN ' NULLS LAST' ELSE '' END
                        WHEN i.indoption[k.n - 1] & 2 = 2 THEN ' NULLS FIRST' ELSE '' END AS spelled,
              -- A plain column whose operator class and collation
              -- pg_get_indexdef would not print.
              a.attname IS NOT NULL
                AND (k.n > i.indnkeyatts
                     OR COALESCE(o.opcdefault AND i.indcollation[k.n - 1] = a.attcollation, false))
                AS plain
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = ic.relnamespace AND {USER_SCHEMA}
         AND i.indexrelid >= 16384 AND {UNITS i.indrelid}
       CROSS JOIN LATERAL (SELECT attnum, n::int AS n
                           FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS key(attnum, n)) k
       -- A lookup per key column (an expression's is 0): joined to all
       -- user columns at once, a sandbox's plan could read them all
       -- again for every key.
       LEFT JOIN LATERAL (SELECT a.attname, a.attcollation FROM pg_attribute a
                          WHERE a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
                          OFFSET 0) a ON true
       LEFT JOIN pg_opclass o ON o.oid = i.indclass[k.n - 1] AND k.n <= i.indnkeyatts
     ), cols AS MATERIALIZED (
       SELECT indexrelid,
              string_agg(spelled, ', ' ORDER BY n) FILTER (WHERE is_key) AS keys,
              string_agg(spelled, ', ' ORDER BY n) FILTER (WHERE NOT is_key) AS included,
              bool_and(plain) AS plain
       FROM keys GROUP BY indexrelid
     )
     SELECT 'index' AS kind, n.nspname || '.' || ic.relname AS name,
            n.nspname || '.' || tc.relname AS table,
            CASE WHEN ic.relam = 403 -- btree; its OID is fixed in every major
                      AND i.indexprs IS NULL AND i.indpred IS NULL
                      AND ic.reloptions IS NULL AND ic.reltablespace = 0 AND cols.plain
            THEN 'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END
                 || 'INDEX ' || quote_ident(ic.relname) || ' ON '
                 || CASE WHEN ic.relkind = 'I' THEN 'ONLY ' ELSE '' END
                 || quote_ident(n.nspname) || '.' || quote_ident(tc.relname)
                 || ' USING btree (' || cols.keys || ')'
                 || COALESCE(' INCLUDE (' || cols.included || ')', '')
                 {NULLS_NOT_DISTINCT}
            ELSE pg_get_indexdef(i.indexrelid) END AS definition,
            i.indisvalid::text AS valid,
            tc.oid AS _unit
     -- Driven by `cols`, and the catalogs looked up by key from it: a
     -- sandbox's statistics say no user index exists, and joined the
     -- other way round, the plan read all of `cols` for every index.
     FROM cols
     JOIN pg_index i ON i.indexrelid = cols.indexrelid
     JOIN pg_class ic ON ic.oid = cols.indexrelid
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
     WHERE t.oid >= 16384 AND t.typtype IN ('e', 'd') AND ",
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
     WHERE p.oid >= 16384 AND p.prokind IN ('f', 'p', 'w') AND ",
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
            NULL AS command, NULL AS permissive, NULL AS roles, NULL AS using, NULL AS with_check,
            c.oid AS _unit
     FROM pg_trigger t
     JOIN pg_class c ON c.oid = t.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE t.oid >= 16384 AND NOT t.tgisinternal AND {UNITS c.oid} AND ",
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
            pg_get_expr(pol.polwithcheck, pol.polrelid),
            c.oid
     FROM pg_policy pol
     JOIN pg_class c ON c.oid = pol.polrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE pol.oid >= 16384 AND {UNITS c.oid} AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_class", "c.oid")
);

/// Collations made with `CREATE COLLATION`. Where the locale lives moved
/// between majors (`collcollate`, PG15's `colliculocale`, PG17's
/// `colllocale`); `to_jsonb` reads whichever this server has, and there are
/// few enough user collations for its cost not to matter.
const COLLATIONS: &str = concat!(
    "SELECT 'collation' AS kind, n.nspname || '.' || co.collname AS name,
            CASE co.collprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu'
                                 WHEN 'b' THEN 'builtin' WHEN 'd' THEN 'default'
                                 ELSE co.collprovider::text END AS provider,
            co.collisdeterministic::text AS deterministic,
            COALESCE(j ->> 'colllocale', j ->> 'colliculocale') AS locale,
            co.collcollate::text AS lc_collate, co.collctype::text AS lc_ctype,
            j ->> 'collicurules' AS rules
     FROM pg_collation co
     JOIN pg_namespace n ON n.oid = co.collnamespace
     CROSS JOIN LATERAL to_jsonb(co) AS j
     WHERE co.oid >= 16384 AND ",
    user_schema!("n"),
    " AND ",
    not_in_extension!("pg_collation", "co.oid")
);

/// `COMMENT ON ...` of relations and what they hold, as rows `kind, name,
/// comment` that [`snapshot`] sets as the `comment` attribute of the
/// object with that key. Comments on objects a snapshot leaves out are not
/// read. An index's comment belongs to its table's unit.
const COMMENTS_ON_RELATIONS: &str = concat!(
    "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                           WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                           WHEN 'c' THEN 'composite type' ELSE 'index' END AS kind,
            n.nspname || '.' || c.relname
              || CASE WHEN d.objsubid > 0 THEN '.' || a.attname ELSE '' END AS name,
            d.description AS comment,
            d.objsubid > 0 AS _column
     FROM pg_description d
     JOIN pg_class c ON c.oid = d.objoid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_attribute a ON d.objsubid > 0 AND a.attrelid = c.oid AND a.attnum = d.objsubid
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_class'::regclass AND ",
    user_schema!("n"),
    " AND ({UNITS c.oid} OR EXISTS (SELECT 1 FROM pg_index i
                                   WHERE i.indexrelid = c.oid AND {UNITS i.indrelid}))
     UNION ALL
     SELECT 'constraint', n.nspname || '.' || c.relname || '.' || con.conname, d.description, false
     FROM pg_description d
     JOIN pg_constraint con ON con.oid = d.objoid
     JOIN pg_class c ON c.oid = con.conrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_constraint'::regclass AND {UNITS c.oid} AND ",
    user_schema!("n"),
    "
     UNION ALL
     SELECT 'composite type', n.nspname || '.' || t.typname, d.description, false
     FROM pg_description d
     JOIN pg_type t ON t.oid = d.objoid
     JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_type'::regclass AND t.typtype = 'c'
       AND {UNITS t.typrelid} AND ",
    user_schema!("n"),
    "
     UNION ALL
     SELECT 'trigger', n.nspname || '.' || c.relname || '.' || t.tgname, d.description, false
     FROM pg_description d
     JOIN pg_trigger t ON t.oid = d.objoid
     JOIN pg_class c ON c.oid = t.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_trigger'::regclass AND {UNITS c.oid} AND ",
    user_schema!("n"),
    "
     UNION ALL
     SELECT 'policy', n.nspname || '.' || c.relname || '.' || pol.polname, d.description, false
     FROM pg_description d
     JOIN pg_policy pol ON pol.oid = d.objoid
     JOIN pg_class c ON c.oid = pol.polrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_policy'::regclass AND {UNITS c.oid} AND ",
    user_schema!("n")
);

/// `COMMENT ON ...` of the objects that belong to no relation: enums,
/// domains, routines, schemas, extensions and collations.
const COMMENTS_ON_OTHERS: &str = concat!(
    "SELECT CASE t.typtype WHEN 'e' THEN 'enum' ELSE 'domain' END AS kind,
            n.nspname || '.' || t.typname AS name, d.description AS comment, false AS _column
     FROM pg_description d
     JOIN pg_type t ON t.oid = d.objoid
     JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_type'::regclass AND t.typtype IN ('e', 'd') AND ",
    user_schema!("n"),
    "
     UNION ALL
     SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
            n.nspname || '.' || p.proname
              || '(' || pg_get_function_identity_arguments(p.oid) || ')', d.description, false
     FROM pg_description d
     JOIN pg_proc p ON p.oid = d.objoid
     JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_proc'::regclass AND ",
    user_schema!("n"),
    "
     UNION ALL
     SELECT 'schema', n.nspname, d.description, false
     FROM pg_description d
     JOIN pg_namespace n ON n.oid = d.objoid
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_namespace'::regclass AND ",
    user_schema!("n"),
    "
     UNION ALL
     SELECT 'extension', e.extname, d.description, false
     FROM pg_description d
     JOIN pg_extension e ON e.oid = d.objoid
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_extension'::regclass
     UNION ALL
     SELECT 'collation', n.nspname || '.' || co.collname, d.description, false
     FROM pg_description d
     JOIN pg_collation co ON co.oid = d.objoid
     JOIN pg_namespace n ON n.oid = co.collnamespace
     WHERE d.objoid >= 16384 AND d.classoid = 'pg_collation'::regclass AND ",
    user_schema!("n")
);

/// Which objects a catalog query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Relations (tables, views, sequences, composite types) and what
    /// each holds: columns, constraints, indexes, triggers, policies and
    /// comments. Each row names its relation's OID (`_unit`), and
    /// `{UNITS expr}` in the SQL is where a read limits them.
    Relations,
    /// Schemas, extensions, enums, domains, routines, collations and
    /// their comments.
    Others,
}

/// One catalog query: what it reads (for error messages), and its SQL
/// over the whole schema and over the relations `$1` (an `oid[]`) names.
struct Query {
    what: &'static str,
    part: Part,
    all: String,
    some: String,
}

impl Query {
    fn new(what: &'static str, part: Part, sql: &str) -> Query {
        Query {
            what,
            part,
            all: in_units(sql, None),
            some: in_units(sql, Some("$1")),
        }
    }
}

/// `sql` with each `{UNITS expr}` made `true` (every relation), or
/// `expr = ANY(units)`.
fn in_units(sql: &str, units: Option<&str>) -> String {
    const OPEN: &str = "{UNITS ";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let end = after.find('}').expect("{UNITS ...} is closed");
        match units {
            None => out.push_str("true"),
            Some(units) => out.push_str(&format!("{} = ANY({units})", &after[..end])),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The queries for a server of `version` (`server_version_num`, e.g.
/// 150014): the few spellings that differ between majors are filled in here.
fn queries(version: u32) -> Vec<Query> {
    let not_null_validated = if version >= 180000 {
        NOT_NULL_VALIDATED_18
    } else {
        "NULL"
    };
    let plain_key = match version {
        180000.. => "AND NOT i.indnullsnotdistinct AND NOT con.conperiod",
        150000.. => "AND NOT i.indnullsnotdistinct",
        _ => "",
    };
    let nulls_not_distinct = if version >= 150000 {
        "|| CASE WHEN i.indnullsnotdistinct THEN ' NULLS NOT DISTINCT' ELSE '' END"
    } else {
        ""
    };
    use Part::{Others, Relations};
    vec![
        Query::new("schemas and extensions", Others, SCHEMAS_AND_EXTENSIONS),
        Query::new(
            "tables, views, sequences and composite types",
            Relations,
            RELATIONS,
        ),
        Query::new(
            "columns",
            Relations,
            &COLUMNS.replace("{NOT_NULL_VALIDATED}", not_null_validated),
        ),
        Query::new(
            "constraints",
            Relations,
            &CONSTRAINTS.replace("{PLAIN_KEY}", plain_key),
        ),
        Query::new(
            "indexes",
            Relations,
            &INDEXES
                .replace("{NULLS_NOT_DISTINCT}", nulls_not_distinct)
                .replace("{USER_SCHEMA}", user_schema!("n")),
        ),
        Query::new("enums and domains", Others, ENUMS_AND_DOMAINS),
        Query::new("functions and procedures", Others, ROUTINES),
        Query::new("triggers and policies", Relations, TRIGGERS_AND_POLICIES),
        Query::new("collations", Others, COLLATIONS),
        Query::new(COMMENTS, Relations, COMMENTS_ON_RELATIONS),
        Query::new(COMMENTS, Others, COMMENTS_ON_OTHERS),
    ]
}

/// What the two comment queries read.
const COMMENTS: &str = "comments";

/// How many catalog queries [`snapshot`] pipelines after asking the version.
pub const QUERY_COUNT: usize = 11;

/// How many round trips [`snapshot`] makes: the server's version, then
/// every catalog query at once.
pub const ROUND_TRIPS: usize = 2;

/// What a read covers.
#[derive(Debug, Clone, Copy)]
pub enum Reach<'a> {
    /// The whole schema.
    All,
    /// The relations with these OIDs and what they hold, and everything
    /// else (schemas, types, routines, ...) when `others`.
    Some {
        units: &'a BTreeSet<u32>,
        others: bool,
    },
}

/// Reads the schema of the database `client` is connected to.
///
/// Asks the server's version, then issues every catalog query together,
/// pipelined on the one connection (one round trip of latency; the server
/// runs them one after another), so the caller's connection task must be
/// running.
pub async fn snapshot(client: &Client) -> Result<Snapshot, SchemaError> {
    Ok(read(client, None, Reach::All).await?.onto(BTreeMap::new()))
}

/// The catalog queries prepared on one connection (`PREPARE`), for a
/// caller that snapshots many times on it: planning them is about twice
/// the cost of running them on a small schema. Prepared statements outlive
/// transactions; `DISCARD ALL` or `DEALLOCATE ALL` on the connection ends
/// them.
pub struct Prepared {
    executes: Vec<Query>,
}

/// Prepares the catalog queries on `client`'s connection.
pub async fn prepare(client: &Client) -> Result<Prepared, SchemaError> {
    let version = server_version(client).await?;
    let mut batch = String::new();
    let mut executes = Vec::new();
    for (i, query) in queries(version).into_iter().enumerate() {
        let all = format!("migcheck_snapshot_{i}");
        batch.push_str(&format!("PREPARE {all} AS {};\n", query.all));
        let some = match query.part {
            Part::Relations => {
                let some = format!("migcheck_snapshot_some_{i}");
                batch.push_str(&format!("PREPARE {some}(oid[]) AS {};\n", query.some));
                format!("EXECUTE {some}($1)")
            }
            Part::Others => format!("EXECUTE {all}"),
        };
        executes.push(Query {
            what: query.what,
            part: query.part,
            all: format!("EXECUTE {all}"),
            some,
        });
    }
    client
        .batch_execute(&batch)
        .await
        .map_err(|error| query_error("the prepared catalog queries", &error))?;
    Ok(Prepared { executes })
}

/// [`snapshot`] through queries [`prepare`] made on this connection.
pub async fn snapshot_prepared(
    client: &Client,
    prepared: &Prepared,
) -> Result<Snapshot, SchemaError> {
    Ok(read(client, Some(prepared), Reach::All)
        .await?
        .onto(BTreeMap::new()))
}

/// The rows of one read, before [`Read::onto`] puts them together: the
/// objects, and what decorates them.
pub(super) struct Read {
    pub objects: BTreeMap<String, Object>,
    /// Per table, its columns' positions and quoted names.
    columns: BTreeMap<String, Vec<(i64, String)>>,
    comments: Vec<Row>,
    /// The OID of the relation each object read belongs to, by key.
    pub units: Vec<(u32, String)>,
}

/// Runs the queries of `reach` (prepared ones where given), pipelined.
pub(super) async fn read(
    client: &Client,
    prepared: Option<&Prepared>,
    reach: Reach<'_>,
) -> Result<Read, SchemaError> {
    let owned;
    let queries = match prepared {
        Some(prepared) => &prepared.executes,
        None => {
            owned = queries(server_version(client).await?);
            debug_assert_eq!(owned.len(), QUERY_COUNT);
            &owned
        }
    };
    let chosen: Vec<(&Query, String)> = queries
        .iter()
        .filter_map(|query| match reach {
            Reach::All => Some((query, query.all.clone())),
            Reach::Some { others, .. } if query.part == Part::Others => {
                others.then(|| (query, query.all.clone()))
            }
            Reach::Some { units, .. } if units.is_empty() => None,
            Reach::Some { units, .. } => {
                let list: Vec<String> = units.iter().map(u32::to_string).collect();
                let array = format!("'{{{}}}'::oid[]", list.join(","));
                Some((query, query.some.replace("$1", &array)))
            }
        })
        .collect();
    let results = futures_util::future::join_all(
        chosen
            .iter()
            .map(|(query, sql)| read_rows(client, query.what, sql)),
    )
    .await;
    let mut read = Read {
        objects: BTreeMap::new(),
        columns: BTreeMap::new(),
        comments: Vec::new(),
        units: Vec::new(),
    };
    for ((query, _), result) in chosen.iter().zip(results) {
        for row in result? {
            if query.what == COMMENTS {
                read.comments.push(row);
                continue;
            }
            if query.what == "columns" {
                let position =
                    row.hidden("_position")?
                        .parse()
                        .map_err(|_| SchemaError::UnexpectedRow {
                            what: "columns",
                            detail: "_position is not a number".to_owned(),
                        })?;
                read.columns
                    .entry(row.hidden("_table")?.to_owned())
                    .or_default()
                    .push((position, row.hidden("_ident")?.to_owned()));
            }
            let key = row.object.key();
            if query.part == Part::Relations {
                let unit =
                    row.hidden("_unit")?
                        .parse()
                        .map_err(|_| SchemaError::UnexpectedRow {
                            what: query.what,
                            detail: "_unit is not an OID".to_owned(),
                        })?;
                read.units.push((unit, key.clone()));
            }
            read.objects.insert(key, row.object);
        }
    }
    Ok(read)
}

impl Read {
    /// `kept` with the objects read put in (replacing those with the same
    /// key), each table read given its column order and every comment
    /// read set as an attribute.
    pub(super) fn onto(self, mut objects: BTreeMap<String, Arc<Object>>) -> Snapshot {
        objects.extend(self.objects.into_iter().map(|(k, o)| (k, Arc::new(o))));
        // Column order, a minor difference of its own (see diff.rs): the
        // `quote_ident`ed names in `attnum` order, dropped columns left out.
        for (table, mut list) in self.columns {
            list.sort();
            let names: Vec<String> = list.into_iter().map(|(_, ident)| ident).collect();
            // Only what was just read is decorated: `make_mut` copies nothing.
            if let Some(object) = objects.get_mut(&format!("{} {table}", ObjectKind::Table)) {
                Arc::make_mut(object)
                    .attrs
                    .insert("columns".to_owned(), names.join(", "));
            }
        }
        for row in self.comments {
            let key = match row.hidden.get("_column").map(String::as_str) {
                Some("t") => format!("{} {}", ObjectKind::Column, row.object.name),
                _ => row.object.key(),
            };
            if let (Some(object), Some(comment)) =
                (objects.get_mut(&key), row.object.attrs.get("comment"))
            {
                Arc::make_mut(object)
                    .attrs
                    .insert("comment".to_owned(), comment.clone());
            }
        }
        Snapshot { objects }
    }
}

/// `server_version_num`, e.g. 150014.
async fn server_version(client: &Client) -> Result<u32, SchemaError> {
    let what = "the server version";
    let rows = client
        .simple_query("SELECT current_setting('server_version_num')")
        .await
        .map_err(|error| query_error(what, &error))?;
    rows.iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
        .ok_or_else(|| SchemaError::UnexpectedRow {
            what,
            detail: "no number".to_owned(),
        })
}

fn query_error(what: &'static str, error: &tokio_postgres::Error) -> SchemaError {
    SchemaError::Query {
        what,
        message: match error.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => error.to_string(),
        },
    }
}

/// A decoded row: the object, and the columns whose names start with `_`,
/// which are not attributes but material for [`snapshot`].
pub(super) struct Row {
    what: &'static str,
    object: Object,
    hidden: BTreeMap<String, String>,
}

impl Row {
    fn hidden(&self, name: &str) -> Result<&str, SchemaError> {
        self.hidden
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| SchemaError::UnexpectedRow {
                what: self.what,
                detail: format!("{name} is missing"),
            })
    }
}

/// Runs one catalog query through the simple protocol: no prepared
/// statement, and every value arrives as text, which is all a snapshot
/// holds.
async fn read_rows(
    client: &Client,
    what: &'static str,
    sql: &str,
) -> Result<Vec<Row>, SchemaError> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|error| query_error(what, &error))?;
    let unexpected = |detail: String| SchemaError::UnexpectedRow { what, detail };
    let mut rows = Vec::new();
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
        let mut hidden = BTreeMap::new();
        for (i, column) in row.columns().iter().enumerate().skip(2) {
            let Some(value) = field(i)? else { continue };
            if column.name().starts_with('_') {
                hidden.insert(column.name().to_owned(), value.to_owned());
            } else {
                // Trailing whitespace carries no meaning: pg_get_functiondef
                // ends every definition with a newline.
                attrs.insert(column.name().to_owned(), value.trim_end().to_owned());
            }
        }
        rows.push(Row {
            what,
            object: Object {
                kind,
                name: name.to_owned(),
                attrs,
            },
            hidden,
        });
    }
    Ok(rows)
}
