//! Measures one statement on a loaded database: its wall time, the locks
//! it took and how long it held ACCESS EXCLUSIVE, which tables it rewrote
//! (their relfilenode changed) and their sizes before and after, and with
//! `--load` what it did to a writer and a reader running meanwhile.
//!
//! A statement that may run in a transaction is sent as `BEGIN; stmt;`
//! then its own `pg_locks` rows are read before `COMMIT`: exact, because
//! relation locks are held to the end of the transaction. One that cannot
//! (`CREATE INDEX CONCURRENTLY`) is watched from a second connection that
//! samples `pg_locks` every few milliseconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::BenchError;
use crate::migrations::Statement;
use crate::postgres::Server;

/// The mode a migration must not hold for long on a busy table.
pub const ACCESS_EXCLUSIVE: &str = "AccessExclusiveLock";

/// How often the sampler reads `pg_locks` for a statement that runs
/// outside a transaction.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);

/// What one statement did on a table of `rows` rows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    #[serde(serialize_with = "super::ms")]
    pub wall: Duration,
    /// Lock modes per relation (user relations only), sorted.
    pub locks: Vec<Lock>,
    /// How long ACCESS EXCLUSIVE was held on any relation; `None` if never.
    #[serde(serialize_with = "super::ms_opt")]
    pub exclusive: Option<Duration>,
    /// `exact` (read inside the statement's transaction) or `sampled`.
    pub lock_source: &'static str,
    /// Tables whose storage was rewritten, with their sizes.
    pub tables: Vec<TableChange>,
    pub load: Option<LoadImpact>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Lock {
    pub relation: String,
    pub mode: String,
}

/// A table that existed before the statement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableChange {
    pub table: String,
    pub rewritten: bool,
    pub bytes_before: i64,
    pub bytes_after: i64,
}

/// What the statement did to a steady writer and reader of one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadImpact {
    pub table: String,
    pub writer: Waits,
    pub reader: Waits,
}

/// One load client's experience while the statement ran.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Waits {
    /// Operations finished while the statement ran.
    pub ops: u64,
    /// The longest any one operation waited: how long it was blocked.
    #[serde(serialize_with = "super::ms")]
    pub blocked: Duration,
}

/// Measures `statement` on the database `database` of `server`, over the
/// connection `client` (which is connected to it).
pub async fn statement(
    server: &Server,
    database: &str,
    client: &Client,
    statement: &Statement,
    load: bool,
) -> Result<Measurement, BenchError> {
    let before = relations(client).await?;
    // Locks on what the statement itself creates (the new index, the
    // transient heap of a rewrite) block nobody; only these count.
    let existing = existing_relations(client).await?;
    let load = match load {
        true => match target(client, &statement.sql).await? {
            Some(table) => Some(Load::start(server, database, table).await?),
            None => None,
        },
        false => None,
    };
    // Whatever happens to the statement, the load's loops end.
    let _stop = load.as_ref().map(|l| StopOnDrop(l.stop.clone()));
    let failed = |e: tokio_postgres::Error| BenchError::Statement {
        line: statement.line,
        message: crate::sandbox::db_message(&e),
    };
    let (wall, locks, exclusive, lock_source) = if statement.outside_transaction() {
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(failed)?
            .get(0);
        let sampler = Sampler::start(server, database, pid).await?;
        let started = Instant::now();
        let result = client.batch_execute(&statement.sql).await;
        let wall = started.elapsed();
        let seen = sampler.stop().await;
        result.map_err(failed)?;
        let exclusive = seen
            .iter()
            .filter(|(lock, _)| lock.mode == ACCESS_EXCLUSIVE && existing.contains(&lock.relation))
            .map(|(_, (first, last))| *last - *first + SAMPLE_EVERY)
            .max()
            .map(|held| held.min(wall));
        (
            wall,
            seen.into_keys().collect::<Vec<_>>(),
            exclusive,
            "sampled",
        )
    } else {
        client.batch_execute("BEGIN").await.map_err(failed)?;
        let started = Instant::now();
        let result = client.batch_execute(&statement.sql).await;
        let wall = started.elapsed();
        if let Err(e) = result {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(failed(e));
        }
        let locks = own_locks(client).await?;
        client.batch_execute("COMMIT").await.map_err(failed)?;
        // Taken at the statement's start, released at COMMIT.
        let held = started.elapsed();
        let exclusive = locks
            .iter()
            .any(|l| l.mode == ACCESS_EXCLUSIVE)
            .then_some(held);
        (wall, locks, exclusive, "exact")
    };
    let locks: Vec<Lock> = locks
        .into_iter()
        .filter(|l| existing.contains(&l.relation))
        .collect();
    let exclusive = exclusive.filter(|_| locks.iter().any(|l| l.mode == ACCESS_EXCLUSIVE));
    let load = match load {
        Some(load) => Some(load.stop().await),
        None => None,
    };
    let after = relations(client).await?;
    let tables = before
        .iter()
        .filter_map(|(oid, (table, node, bytes))| {
            let (_, node_after, bytes_after) = after.get(oid)?;
            Some(TableChange {
                table: table.clone(),
                rewritten: node != node_after,
                bytes_before: *bytes,
                bytes_after: *bytes_after,
            })
        })
        .collect();
    Ok(Measurement {
        wall,
        locks,
        exclusive,
        lock_source,
        tables,
        load,
    })
}

type Relations = BTreeMap<u32, (String, u32, i64)>;

/// User tables by oid: name, relfilenode, total size.
async fn relations(client: &Client) -> Result<Relations, BenchError> {
    Ok(client
        .query(
            "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                    pg_relation_filenode(c.oid), pg_total_relation_size(c.oid)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'm')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_%'",
            &[],
        )
        .await
        .map_err(|e| BenchError::sql("read relations", &e))?
        .iter()
        .map(|r| {
            let oid: u32 = r.get(0);
            let node: Option<u32> = r.get(2);
            (oid, (r.get(1), node.unwrap_or(0), r.get(3)))
        })
        .collect())
}

/// Names (as `regclass` prints them) of every relation outside the
/// system catalogs.
async fn existing_relations(
    client: &Client,
) -> Result<std::collections::BTreeSet<String>, BenchError> {
    Ok(client
        .query(
            "SELECT c.oid::regclass::text FROM pg_class c
             WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
            &[],
        )
        .await
        .map_err(|e| BenchError::sql("read relations", &e))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

const USER_LOCKS: &str = "SELECT coalesce(c.oid::regclass::text, l.relation::text), l.mode
     FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
     WHERE l.locktype = 'relation' AND l.pid = $1
       AND coalesce(c.relnamespace <> 'pg_catalog'::regnamespace, true)
       AND coalesce(c.relnamespace <> 'information_schema'::regnamespace, true)";

async fn own_locks(client: &Client) -> Result<Vec<Lock>, BenchError> {
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| BenchError::sql("pg_backend_pid", &e))?
        .get(0);
    let mut locks: Vec<Lock> = client
        .query(USER_LOCKS, &[&pid])
        .await
        .map_err(|e| BenchError::sql("read pg_locks", &e))?
        .iter()
        .map(|r| Lock {
            relation: r.get(0),
            mode: r.get(1),
        })
        .collect();
    locks.sort();
    locks.dedup();
    Ok(locks)
}

/// A second connection reading another backend's locks until stopped
/// (also the `locks` check's, for statements outside a transaction).
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<BTreeMap<Lock, (Instant, Instant)>>,
}

impl Sampler {
    pub(crate) async fn start(
        server: &Server,
        database: &str,
        pid: i32,
    ) -> Result<Sampler, BenchError> {
        let client = server.connect(database).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut seen: BTreeMap<Lock, (Instant, Instant)> = BTreeMap::new();
            while !stopped.load(Ordering::Relaxed) {
                let Ok(rows) = client.query(USER_LOCKS, &[&pid]).await else {
                    break;
                };
                let now = Instant::now();
                for row in rows {
                    let lock = Lock {
                        relation: row.get(0),
                        mode: row.get(1),
                    };
                    seen.entry(lock).or_insert((now, now)).1 = now;
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
            seen
        });
        Ok(Sampler { stop, task })
    }

    pub(crate) async fn stop(self) -> BTreeMap<Lock, (Instant, Instant)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

/// The first existing table the statement names, which `--load` works on.
async fn target(client: &Client, sql: &str) -> Result<Option<String>, BenchError> {
    let Ok(parsed) = pg_query::parse(sql) else {
        return Ok(None);
    };
    for name in parsed.tables() {
        let row = client
            .query_one(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')",
                &[&name],
            )
            .await;
        if let Ok(row) = row {
            return Ok(Some(row.get(0)));
        }
    }
    Ok(None)
}

/// A steady writer (a one-row UPDATE, which a SHARE lock blocks) and
/// reader (a one-row SELECT, which only ACCESS EXCLUSIVE blocks), each on
/// its own connection, in a loop until stopped.
struct Load {
    table: String,
    stop: Arc<AtomicBool>,
    writer: tokio::task::JoinHandle<Waits>,
    reader: tokio::task::JoinHandle<Waits>,
}

impl Load {
    async fn start(server: &Server, database: &str, table: String) -> Result<Load, BenchError> {
        let column: String = server
            .connect(database)
            .await?
            .query_one(
                "SELECT quote_ident(attname) FROM pg_attribute
                 WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped
                   AND attgenerated = '' AND attidentity <> 'a'
                 ORDER BY attnum LIMIT 1",
                &[&table],
            )
            .await
            .map_err(|e| BenchError::sql("choose the writer's column", &e))?
            .get(0);
        let write = format!(
            "UPDATE {table} SET {column} = {column} WHERE ctid = (SELECT ctid FROM {table} LIMIT 1)"
        );
        let read = format!("SELECT 1 FROM {table} LIMIT 1");
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(std::sync::OnceLock::new());
        let writer = spawn_loop(server, database, write, &stop, &started).await?;
        let reader = spawn_loop(server, database, read, &stop, &started).await?;
        // Warm: both have connected and run before the statement starts.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = started.set(Instant::now());
        Ok(Load {
            table,
            stop,
            writer,
            reader,
        })
    }

    async fn stop(self) -> LoadImpact {
        self.stop.store(true, Ordering::Relaxed);
        LoadImpact {
            table: self.table,
            writer: self.writer.await.unwrap_or_default(),
            reader: self.reader.await.unwrap_or_default(),
        }
    }
}

/// Sets a stop flag when dropped, so an early return ends the loops.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `sql` in a loop on a connection of its own until `stop`; counts
/// the operations that overlap the statement (which begins at `started`)
/// and the longest of them.
async fn spawn_loop(
    server: &Server,
    database: &str,
    sql: String,
    stop: &Arc<AtomicBool>,
    started: &Arc<std::sync::OnceLock<Instant>>,
) -> Result<tokio::task::JoinHandle<Waits>, BenchError> {
    let client = server.connect(database).await?;
    let stop = stop.clone();
    let started = started.clone();
    Ok(tokio::spawn(async move {
        let mut seen = Waits::default();
        while !stop.load(Ordering::Relaxed) {
            let began = Instant::now();
            if client.batch_execute(&sql).await.is_err() {
                break;
            }
            // Counted when it overlapped the statement.
            if started
                .get()
                .is_some_and(|s| began >= *s || Instant::now() > *s)
            {
                seen.ops += 1;
                seen.blocked = seen.blocked.max(began.elapsed());
            }
            tokio::task::yield_now().await;
        }
        seen
    }))
}
