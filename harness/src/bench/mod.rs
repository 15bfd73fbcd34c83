//! `migcheck bench`: what each statement of a migration costs on large
//! tables, before production finds out.
//!
//! The rule: the migrations before `--bench-from` (default: the last one)
//! are applied to a fresh template clone, every user table then gets N
//! generated rows (`data`), and each statement of the migrations under
//! test is measured in order (`measure`). Each size runs on a clone of its
//! own, on every major of the version matrix. `scaling` turns the series
//! into growth and findings; `report` and `chart` render them.
//!
//! It judges only in `scaling`; it never writes outside its own databases.

pub mod chart;
pub mod data;
pub mod measure;
pub mod report;
pub mod scaling;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::migrations::{Format, MigrationSet};
use crate::postgres::{PgSpec, Server, for_each_major};
use crate::runner::{Runner, RunnerMode, TxMode};
use crate::sandbox::{Sandboxes, Strategy};

pub use data::Loaded;
pub use measure::Measurement;
pub use report::BenchReport;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Postgres(#[from] crate::postgres::PostgresError),
    #[error(transparent)]
    Migrations(#[from] crate::migrations::MigrationsError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Runner(#[from] crate::runner::RunnerError),
    #[error(
        "{migration} line {line}: {message}; bench measures migrations that apply, run `migcheck check` first"
    )]
    Apply {
        migration: String,
        line: usize,
        message: String,
    },
    #[error("line {line}: {message}")]
    Statement { line: usize, message: String },
    #[error("{migration}")]
    InMigration {
        migration: String,
        #[source]
        source: Box<BenchError>,
    },
    #[error("loading rows into {table}: {message}")]
    Load { table: String, message: String },
    #[error("{action}: {message}")]
    Sql { action: String, message: String },
    #[error("--bench-from {version}: no such migration; the set has: {known}")]
    UnknownVersion { version: String, known: String },
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write the chart to {path}: {message}")]
    Chart { path: PathBuf, message: String },
}

impl BenchError {
    fn sql(action: &str, e: &tokio_postgres::Error) -> BenchError {
        BenchError::Sql {
            action: action.to_owned(),
            message: crate::sandbox::db_message(e),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub migrations: PathBuf,
    pub format: Format,
    pub pg: PgSpec,
    pub pg_versions: Vec<u32>,
    /// Table sizes, in rows; each runs on a fresh clone.
    pub rows: Vec<u64>,
    /// The first migration under test; `None`: the last one.
    pub bench_from: Option<String>,
    /// Run a writer and a reader against the statement's table.
    pub load: bool,
    pub seed: u64,
    pub thresholds: scaling::Thresholds,
    /// Also send each statement with psql on an identical clone, to
    /// measure migcheck's own overhead.
    pub psql: Option<PathBuf>,
    /// The migrations run as the server's superuser (`--superuser`).
    pub superuser: bool,
}

/// One statement under test, measured at one size on one server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    pub postgres: String,
    pub migration: String,
    /// 1-based, in its migration.
    pub statement: usize,
    pub line: usize,
    pub sql: String,
    pub rows: u64,
    #[serde(flatten)]
    pub measurement: Measurement,
    /// The same statement's time when psql sent it (`--compare-psql`).
    #[serde(serialize_with = "ms_opt")]
    pub psql: Option<Duration>,
}

/// Loading one size on one server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadRun {
    pub postgres: String,
    pub rows: u64,
    pub tables: Vec<Loaded>,
}

/// Runs the bench of `set` on every asked major, one after the other.
/// The report's findings are `checks::bench`'s to make.
pub fn run(set: &MigrationSet, options: &Options) -> Result<BenchReport, BenchError> {
    let started = Instant::now();
    let from = match &options.bench_from {
        None => set.migrations.len().saturating_sub(1),
        Some(version) => set
            .migrations
            .iter()
            .position(|m| m.version == *version || m.name == *version)
            .ok_or_else(|| BenchError::UnknownVersion {
                version: version.clone(),
                known: set.versions(),
            })?,
    };
    if set.migrations.is_empty() {
        return Err(BenchError::Usage(format!(
            "--migrations {}: no migrations found",
            options.migrations.display()
        )));
    }
    if options.rows.is_empty() {
        return Err(BenchError::Usage(
            "--rows: give at least one size, e.g. 10k,100k".into(),
        ));
    }
    let runtime = crate::runtime().map_err(BenchError::Runtime)?;
    let mut runs = Vec::new();
    let mut loads = Vec::new();
    let postgres = for_each_major(&options.pg, &options.pg_versions, |server| {
        runtime.block_on(on_server(
            &server, set, from, options, &mut runs, &mut loads,
        ))?;
        Ok::<_, BenchError>(server.version().to_owned())
    })?;
    Ok(BenchReport {
        set: set_id(&options.migrations),
        postgres,
        rows: options.rows.clone(),
        load: options.load,
        loads,
        statements: scaling::series(&runs),
        runs,
        findings: Vec::new(),
        thresholds: options.thresholds.clone(),
        duration: started.elapsed(),
    })
}

/// The set's name in reports: its directory's, or the parent's when the
/// directory is just called `migrations`.
fn set_id(dir: &std::path::Path) -> String {
    let Ok(path) = dir.canonicalize() else {
        return dir.display().to_string();
    };
    let named = match path.file_name() {
        Some(n) if n == "migrations" => path.parent().unwrap_or(&path),
        _ => &path,
    };
    named.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

async fn on_server(
    server: &Server,
    set: &MigrationSet,
    from: usize,
    options: &Options,
    runs: &mut Vec<Run>,
    loads: &mut Vec<LoadRun>,
) -> Result<(), BenchError> {
    let mut sandboxes = Sandboxes::new(
        server,
        Strategy::Template,
        crate::sandbox::Timeouts::default(),
    )
    .with_access(crate::sandbox::Access::of(options.superuser));
    let result = sizes(server, &mut sandboxes, set, from, options, runs, loads).await;
    let shutdown = sandboxes.shutdown().await;
    result?;
    Ok(shutdown?)
}

async fn sizes(
    server: &Server,
    sandboxes: &mut Sandboxes<'_>,
    set: &MigrationSet,
    from: usize,
    options: &Options,
    runs: &mut Vec<Run>,
    loads: &mut Vec<LoadRun>,
) -> Result<(), BenchError> {
    for &rows in &options.rows {
        let sandbox = prepared(sandboxes, set, from, rows, options.seed).await?;
        let database = sandbox.database().unwrap_or_default().to_owned();
        loads.push(LoadRun {
            postgres: server.version().to_owned(),
            rows,
            tables: sandbox_loaded(&sandbox),
        });
        let first = runs.len();
        for migration in &set.migrations[from..] {
            for (i, statement) in migration.up.statements.iter().enumerate() {
                let measurement = measure::statement(
                    server,
                    &database,
                    sandbox.sandbox.client(),
                    statement,
                    options.load,
                )
                .await
                .map_err(|e| BenchError::InMigration {
                    migration: migration.name.clone(),
                    source: Box::new(e),
                })?;
                runs.push(Run {
                    postgres: server.version().to_owned(),
                    migration: migration.name.clone(),
                    statement: i + 1,
                    line: statement.line,
                    sql: statement.sql.clone(),
                    rows,
                    measurement,
                    psql: None,
                });
            }
        }
        sandboxes.close(sandbox.sandbox).await?;
        if let Some(psql) = &options.psql {
            // The same state again, the statements sent by psql instead.
            let twin = prepared(sandboxes, set, from, rows, options.seed).await?;
            let database = twin.database().unwrap_or_default().to_owned();
            let mut k = first;
            for migration in &set.migrations[from..] {
                for statement in &migration.up.statements {
                    runs[k].psql =
                        Some(report::psql_time(server, psql, &database, &statement.sql)?);
                    k += 1;
                }
            }
            sandboxes.close(twin.sandbox).await?;
        }
    }
    Ok(())
}

/// A fresh clone with the migrations before the ones under test applied
/// and `rows` rows in every table.
struct Prepared {
    sandbox: crate::sandbox::Sandbox,
    loaded: Vec<Loaded>,
}

impl Prepared {
    fn database(&self) -> Option<&str> {
        self.sandbox.database()
    }
}

fn sandbox_loaded(prepared: &Prepared) -> Vec<Loaded> {
    prepared.loaded.clone()
}

async fn prepared(
    sandboxes: &mut Sandboxes<'_>,
    set: &MigrationSet,
    from: usize,
    rows: u64,
    seed: u64,
) -> Result<Prepared, BenchError> {
    let sandbox = sandboxes.open().await?;
    let runner = Runner {
        mode: RunnerMode::RerunAll,
        tx: TxMode::PerFile,
        ..Runner::default()
    };
    if let Some(failed) = sandbox.apply(runner, &set.migrations[..from]).await? {
        let _ = sandboxes.close(sandbox).await;
        return Err(BenchError::Apply {
            migration: failed.migration,
            line: failed.line,
            message: failed.message,
        });
    }
    let database = sandbox.database().unwrap_or_default().to_owned();
    let loaded = match data::load_into(sandboxes.server(), &database, rows, seed).await {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = sandboxes.close(sandbox).await;
            return Err(e);
        }
    };
    Ok(Prepared { sandbox, loaded })
}

pub(crate) fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

pub(crate) fn ms_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ms(d, s),
        None => s.serialize_none(),
    }
}
