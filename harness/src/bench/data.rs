//! Rows for the bench: N generated rows in every user table, fitting each
//! column's type, primary and unique keys (distinct per row) and foreign
//! keys (a key the referenced table has), from a seeded `rand` generator,
//! sent with binary `COPY` (one stream per table, parents first).
//!
//! Columns with a default that are not part of a key or a foreign key keep
//! their default, as an application's inserts would. It must not change
//! the schema: only rows and the sequences behind the keys it wrote.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::BenchError;
use crate::version_table;

/// What loading one table cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Loaded {
    pub table: String,
    pub rows: u64,
    /// The table's size with its indexes and TOAST after the load.
    pub bytes: i64,
    #[serde(serialize_with = "super::ms")]
    pub duration: Duration,
}

impl Loaded {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// How a column's values are made.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// text, varchar(n), char(n): at most this many characters.
    Text(usize),
    Uuid,
    Timestamp,
    Date,
    Json,
    Jsonb,
    Enum,
}

struct Column {
    name: String,
    kind: Kind,
    /// The wire type for the COPY header: the base type's, text for enums.
    wire: Type,
    enum_labels: Vec<String>,
    /// Part of a primary key or unique index: row i gets the i-th key.
    distinct: bool,
    /// A foreign key: (constraint number in the table, referenced table).
    references: Option<(usize, String)>,
}

struct Table {
    name: String,
    columns: Vec<Column>,
    /// Referenced tables other than itself.
    parents: Vec<String>,
}

/// [`load`] into `database` on a superuser session of migcheck's own: the
/// rows are migcheck's, not the migrations' (which run as a role without
/// superuser rights), and a superuser may skip the foreign keys' triggers.
pub(crate) async fn load_into(
    server: &crate::postgres::Server,
    database: &str,
    rows: u64,
    seed: u64,
) -> Result<Vec<Loaded>, BenchError> {
    let (client, task) = server.connect_with_task(database).await?;
    let loaded = load(&client, rows, seed).await;
    drop(client);
    let _ = task.await;
    loaded
}

/// Loads `rows` rows into every user table (parents before children) and
/// returns what each cost. The same `seed` gives the same rows.
pub async fn load(client: &Client, rows: u64, seed: u64) -> Result<Vec<Loaded>, BenchError> {
    let mut pending = tables(client).await?;
    let names: Vec<String> = pending.iter().map(|t| t.name.clone()).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    // Foreign keys hold by construction; their per-row check triggers
    // would make a child table load ~4x slower. Only a superuser may skip
    // them (as pg_restore does); elsewhere they run.
    let replica = client
        .batch_execute("SET session_replication_role = replica")
        .await
        .is_ok();
    let result = load_tables(client, &mut pending, &names, rows, &mut rng).await;
    if replica {
        client
            .batch_execute("RESET session_replication_role")
            .await
            .map_err(|e| BenchError::sql("RESET session_replication_role", &e))?;
    }
    let loaded = result?;
    // Plans and the rewrite decisions of ALTER TABLE do not depend on
    // statistics, but index builds and the load's readers' plans do.
    client
        .batch_execute("ANALYZE")
        .await
        .map_err(|e| BenchError::sql("ANALYZE", &e))?;
    Ok(loaded)
}

async fn load_tables(
    client: &Client,
    pending: &mut Vec<Table>,
    names: &[String],
    rows: u64,
    rng: &mut StdRng,
) -> Result<Vec<Loaded>, BenchError> {
    let mut done: Vec<String> = Vec::new();
    let mut loaded = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|t| {
            t.parents
                .iter()
                .all(|p| done.contains(p) || !names.contains(p))
        });
        let Some(ready) = ready else {
            let cycle: Vec<&str> = pending.iter().map(|t| t.name.as_str()).collect();
            return Err(BenchError::Load {
                table: cycle.join(", "),
                message:
                    "these tables reference each other in a cycle; bench cannot order their rows"
                        .into(),
            });
        };
        let table = pending.remove(ready);
        let started = Instant::now();
        copy(client, &table, rows, rng).await?;
        fix_sequences(client, &table).await?;
        let duration = started.elapsed();
        let bytes: i64 = client
            .query_one(
                "SELECT pg_total_relation_size($1::text::regclass)",
                &[&table.name],
            )
            .await
            .map_err(|e| BenchError::sql("size", &e))?
            .get(0);
        done.push(table.name.clone());
        loaded.push(Loaded {
            table: table.name,
            rows,
            bytes,
            duration,
        });
    }
    Ok(loaded)
}

async fn copy(
    client: &Client,
    table: &Table,
    rows: u64,
    rng: &mut StdRng,
) -> Result<(), BenchError> {
    let failed = |e: tokio_postgres::Error| BenchError::Load {
        table: table.name.clone(),
        message: crate::sandbox::db_message(&e),
    };
    let list: Vec<String> = table
        .columns
        .iter()
        .map(|c| crate::sql::ident(&c.name))
        .collect();
    let sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        table.name,
        list.join(", ")
    );
    let sink = client.copy_in(&sql).await.map_err(failed)?;
    let types: Vec<Type> = table.columns.iter().map(|c| c.wire.clone()).collect();
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    let mut values: Vec<Value> = Vec::with_capacity(table.columns.len());
    for i in 0..rows {
        values.clear();
        // One referenced row per foreign key constraint, so a composite
        // key points at one existing row.
        let mut picks: Vec<(usize, u64)> = Vec::new();
        for column in &table.columns {
            let key = match &column.references {
                Some((constraint, parent)) => {
                    let pick = match picks.iter().find(|(c, _)| c == constraint) {
                        Some(&(_, pick)) => pick,
                        None => {
                            let pick = if column.distinct {
                                i
                            } else if *parent == table.name {
                                rng.random_range(0..=i)
                            } else {
                                rng.random_range(0..rows)
                            };
                            picks.push((*constraint, pick));
                            pick
                        }
                    };
                    Some(pick)
                }
                None if column.distinct => Some(i),
                None => None,
            };
            values.push(value(column, key, rng));
        }
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        writer.as_mut().write(&refs).await.map_err(failed)?;
    }
    writer.finish().await.map_err(failed)?;
    Ok(())
}

/// Sequences of the key columns written: moved past the keys, so the
/// application's next insert (and the load's writer) does not collide.
async fn fix_sequences(client: &Client, table: &Table) -> Result<(), BenchError> {
    for column in table.columns.iter().filter(|c| c.distinct) {
        if !matches!(column.kind, Kind::Int2 | Kind::Int4 | Kind::Int8) {
            continue;
        }
        let column_name = crate::sql::ident(&column.name);
        client
            .execute(
                &format!(
                    "SELECT setval(s, (SELECT coalesce(max({column_name}), 0) + 1 FROM {}), false)
                     FROM pg_get_serial_sequence($1, $2) s WHERE s IS NOT NULL",
                    table.name
                ),
                &[&table.name, &column.name],
            )
            .await
            .map_err(|e| BenchError::sql("setval", &e))?;
    }
    Ok(())
}

/// The value of `column` in a row: the `key`-th key when the column is a
/// key or references one, else random.
fn value(column: &Column, key: Option<u64>, rng: &mut StdRng) -> Value {
    match (column.kind, key) {
        (Kind::Int2, Some(k)) => Value::I16((k + 1) as i16),
        (Kind::Int4, Some(k)) => Value::I32((k + 1) as i32),
        (Kind::Int8, Some(k)) => Value::I64((k + 1) as i64),
        (Kind::Text(max), Some(k)) => Value::Text(truncate(format!("k{k}"), max)),
        (Kind::Uuid, Some(k)) => Value::Uuid(uuid_of(k)),
        (Kind::Timestamp, Some(k)) => Value::I64(k as i64 * 1_000_000),
        (Kind::Date, Some(k)) => Value::I32(k as i32),
        (Kind::Float4, Some(k)) => Value::F32(k as f32),
        (Kind::Float8, Some(k)) => Value::F64(k as f64),
        (Kind::Bool, _) => Value::Bool(rng.random_bool(0.5)),
        (Kind::Int2, None) => Value::I16(rng.random_range(0..i16::MAX)),
        (Kind::Int4, None) => Value::I32(rng.random_range(0..1_000_000)),
        (Kind::Int8, None) => Value::I64(rng.random_range(0..1_000_000_000)),
        (Kind::Float4, None) => Value::F32(rng.random::<f32>() * 1000.0),
        (Kind::Float8, None) => Value::F64(rng.random::<f64>() * 1000.0),
        (Kind::Text(max), None) => {
            let len = rng.random_range(4..=24).min(max);
            Value::Text(
                (0..len)
                    .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                    .collect(),
            )
        }
        (Kind::Uuid, None) => Value::Uuid(uuid_of(rng.random())),
        // Microseconds since 2000-01-01, within about ten years.
        (Kind::Timestamp, None) => Value::I64(rng.random_range(0..315_360_000_000_000)),
        (Kind::Date, None) => Value::I32(rng.random_range(0..3650)),
        (Kind::Json, _) => Value::Text(format!("{{\"n\": {}}}", key.unwrap_or(rng.random()))),
        (Kind::Jsonb, _) => Value::Jsonb(format!("{{\"n\": {}}}", key.unwrap_or(rng.random()))),
        (Kind::Enum, _) => {
            let n = column.enum_labels.len() as u64;
            let pick = key.unwrap_or_else(|| rng.random_range(0..n)) % n;
            Value::Text(column.enum_labels[pick as usize].clone())
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    s.truncate(max);
    s
}

/// A version-4-looking UUID made from a number (splitmix64), so that a
/// child table can name the parent's k-th key without reading it.
fn uuid_of(k: u64) -> [u8; 16] {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&mix(k).to_be_bytes());
    // The low half keeps k itself, so distinct keys give distinct UUIDs.
    bytes[8..].copy_from_slice(&k.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes
}

/// The user tables and how to fill each.
async fn tables(client: &Client) -> Result<Vec<Table>, BenchError> {
    let names: Vec<String> = client
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_%' AND c.relname <> ALL($1)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.classid = 'pg_class'::regclass
                                 AND d.objid = c.oid AND d.deptype = 'e')
             ORDER BY 1",
            &[&version_table::NAMES],
        )
        .await
        .map_err(|e| BenchError::sql("list tables", &e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut tables = Vec::new();
    for name in names {
        tables.push(table(client, name).await?);
    }
    Ok(tables)
}

async fn table(client: &Client, name: String) -> Result<Table, BenchError> {
    let rows = client
        .query(
            &format!(
                "SELECT a.attname::text,
                        coalesce(bt.typname, t.typname)::text,
                        coalesce(bt.oid, t.oid),
                        t.typtype::text,
                        CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
                        coalesce((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                                  FROM pg_enum e WHERE e.enumtypid = a.atttypid), '{{}}'),
                        a.atthasdef OR a.attidentity <> '', a.attgenerated <> '',
                        a.attnotnull,
                        EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid
                                AND i.indisunique AND a.attnum = ANY (i.indkey)),
                        (SELECT f.conname::text FROM pg_constraint f
                         WHERE f.conrelid = a.attrelid AND f.contype = 'f'
                           AND a.attnum = ANY (f.conkey) ORDER BY f.conname LIMIT 1),
                        (SELECT quote_ident(rn.nspname) || '.' || quote_ident(rc.relname)
                         FROM pg_constraint f
                         JOIN pg_class rc ON rc.oid = f.confrelid
                         JOIN pg_namespace rn ON rn.oid = rc.relnamespace
                         WHERE f.conrelid = a.attrelid AND f.contype = 'f'
                           AND a.attnum = ANY (f.conkey) ORDER BY f.conname LIMIT 1)
                 FROM pg_attribute a
                 JOIN pg_type t ON t.oid = a.atttypid
                 LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
                 WHERE a.attrelid = {}::regclass AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum",
                crate::sql::literal(&name)
            ),
            &[],
        )
        .await
        .map_err(|e| BenchError::sql("read columns", &e))?;
    let mut columns = Vec::new();
    let mut parents = Vec::new();
    let mut constraints: Vec<String> = Vec::new();
    for row in rows {
        let column_name: String = row.get(0);
        let type_name: String = row.get(1);
        let oid: u32 = row.get(2);
        let typtype: String = row.get(3);
        let typmod: i32 = row.get(4);
        let enum_labels: Vec<String> = row.get(5);
        let has_default: bool = row.get(6);
        let generated: bool = row.get(7);
        let not_null: bool = row.get(8);
        let distinct: bool = row.get(9);
        let constraint: Option<String> = row.get(10);
        let parent: Option<String> = row.get(11);
        if generated {
            continue;
        }
        let references = match (constraint, parent) {
            (Some(constraint), Some(parent)) => {
                let n = match constraints.iter().position(|c| *c == constraint) {
                    Some(n) => n,
                    None => {
                        constraints.push(constraint);
                        constraints.len() - 1
                    }
                };
                if parent != name && !parents.contains(&parent) {
                    parents.push(parent.clone());
                }
                Some((n, parent))
            }
            _ => None,
        };
        if has_default && !distinct && references.is_none() {
            continue;
        }
        let kind = if typtype == "e" {
            Some(Kind::Enum)
        } else {
            kind_of(&type_name, typmod)
        };
        let Some(kind) = kind else {
            if not_null && !has_default {
                return Err(BenchError::Load {
                    table: name,
                    message: format!(
                        "column {column_name} is NOT NULL of type {type_name}, which bench cannot generate; \
                         give it a default or use one of bool, smallint, integer, bigint, real, double precision, \
                         text, varchar, char, uuid, timestamp(tz), date, json(b) or an enum"
                    ),
                });
            }
            // Nullable or defaulted: left to NULL or its default.
            continue;
        };
        let wire = match kind {
            Kind::Enum => Type::TEXT,
            _ => Type::from_oid(oid).unwrap_or(Type::TEXT),
        };
        columns.push(Column {
            name: column_name,
            kind,
            wire,
            enum_labels,
            distinct,
            references,
        });
    }
    Ok(Table {
        name,
        columns,
        parents,
    })
}

fn kind_of(type_name: &str, typmod: i32) -> Option<Kind> {
    // varchar(n) and char(n) store n + 4 in typmod.
    let limit = if typmod > 4 {
        (typmod - 4) as usize
    } else {
        usize::MAX
    };
    Some(match type_name {
        "bool" => Kind::Bool,
        "int2" => Kind::Int2,
        "int4" => Kind::Int4,
        "int8" => Kind::Int8,
        "float4" => Kind::Float4,
        "float8" => Kind::Float8,
        "text" | "varchar" | "bpchar" | "name" => Kind::Text(limit.min(63)),
        "uuid" => Kind::Uuid,
        "timestamp" | "timestamptz" => Kind::Timestamp,
        "date" => Kind::Date,
        "json" => Kind::Json,
        "jsonb" => Kind::Jsonb,
        _ => return None,
    })
}

/// One value in the binary COPY format of its column's type.
#[derive(Debug)]
enum Value {
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Uuid([u8; 16]),
    Jsonb(String),
}

impl ToSql for Value {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Bool(b) => out.put_u8(u8::from(*b)),
            Value::I16(n) => out.put_i16(*n),
            Value::I32(n) => out.put_i32(*n),
            Value::I64(n) => out.put_i64(*n),
            Value::F32(n) => out.put_f32(*n),
            Value::F64(n) => out.put_f64(*n),
            Value::Text(s) => out.put_slice(s.as_bytes()),
            Value::Uuid(b) => out.put_slice(b),
            Value::Jsonb(s) => {
                // jsonb's binary format: a version byte, then the text.
                out.put_u8(1);
                out.put_slice(s.as_bytes());
            }
        }
        Ok(IsNull::No)
    }

    // The column list decides the type; each value was made for its column.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}
