//! The command line's arguments, as clap types. Groups that several
//! commands share (the migration set, the runner, the servers, how a run
//! goes, where reports go) are flattened into each command, so an option
//! means the same everywhere.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::values::{bytes, count, duration};
use crate::bench::report::BenchFormat;
use crate::finding::Check;
use crate::fuzz::Shard;
use crate::migrations::Format;
use crate::report::OutputFormat;
use crate::runner::{RunnerMode, TxMode};
use crate::sandbox::SandboxChoice;

/// Tests PostgreSQL migrations the way production runs them: on legacy
/// databases, twice in a row, and against a fresh install.
#[derive(Parser)]
#[command(name = "migcheck", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The largest input file migcheck reads (a migration, a scenario, legacy
    /// SQL, a snapshot), e.g. 64MB, 512MB, 1GB; a larger one is an error.
    #[arg(
        long,
        global = true,
        value_name = "SIZE",
        default_value = "64MB",
        env = "MIGCHECK_MAX_FILE_SIZE",
        value_parser = bytes
    )]
    pub max_file_size: u64,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run scenario files (YAML) and compare their findings with what they expect.
    Verify(VerifyArgs),
    /// Lint one migration directory: static analysis, no server.
    Lint(LintArgs),
    /// Check one migration directory.
    Check(CheckArgs),
    /// Print the schema of a database or of a migration directory applied to
    /// an empty database (`--format json` writes a snapshot file for `diff`).
    Snapshot(SnapshotArgs),
    /// Compare two schemas, each a connection string, a migration directory
    /// or a snapshot file. Exit code 0 when equal, 1 when they differ.
    Diff(DiffArgs),
    /// Generate legacy states from the set's own history, run the set from
    /// each, shrink every failure to a minimal state and (with --emit)
    /// write it as a scenario file.
    Fuzz(FuzzArgs),
    /// Measure what each statement of a migration costs on large tables:
    /// time, locks, rewrites, growth with rows, blocked writers.
    Bench(BenchArgs),
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Scenario files or directories searched for *.yaml.
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// Run only the scenarios whose file or migrations changed since this
    /// git revision: each upgrades from the set as it is at the merge base
    /// with REV, and checks the branch's migrations in both merge orders.
    #[arg(long, value_name = "REV")]
    pub changed_since: Option<String>,
    /// Upgrade from at most N past versions of each set found in its git
    /// history (newest first; 0: none), instead of each scenario's
    /// `git_history:` (default 50).
    #[arg(long, value_name = "N")]
    pub git_history: Option<usize>,
    #[command(flatten)]
    pub locks: LocksArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The `locks` check's scope and projection.
#[derive(Args)]
pub struct LocksArgs {
    /// Which migrations the `locks` check observes: `under-test` (those
    /// the branch adds or changes with --changed-since, else the last one;
    /// a scenario's `locks:` list otherwise) or `all` (an audit of the
    /// whole history).
    #[arg(long, value_enum, value_name = "SCOPE")]
    pub locks: Option<LocksFlag>,
    /// Estimate how long each lock the `locks` check reports would be held
    /// on tables of N rows (10M, 500k), from the statement measured at 1k
    /// and 10k rows as bench measures it.
    #[arg(long, value_name = "N", value_parser = count)]
    pub project_rows: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LocksFlag {
    UnderTest,
    All,
}

impl LocksArgs {
    /// Sets what was given on `scenario`; a scenario's own `locks:` list
    /// stands unless `--locks` is given.
    pub fn apply(&self, scenario: &mut crate::scenario::Scenario) {
        use crate::scenario::LocksScope;
        match self.locks {
            Some(LocksFlag::All) => scenario.locks = LocksScope::All,
            Some(LocksFlag::UnderTest) => scenario.locks = LocksScope::UnderTest,
            None => {}
        }
        if self.project_rows.is_some() {
            scenario.project_rows = self.project_rows;
        }
    }
}

#[derive(Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub set: SetArgs,
    #[command(flatten)]
    pub runner: ModeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub set: SetArgs,
    /// A legacy state: SQL putting an empty database into the shape of an old one (repeatable).
    #[arg(long, value_name = "FILE.sql")]
    pub legacy: Vec<PathBuf>,
    /// What the application needs at the end: `tables`, `columns`, `indexes` (YAML).
    #[arg(long, value_name = "FILE.yaml")]
    pub expect: Option<PathBuf>,
    /// Which checks to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fresh,rerun,converge,expect,merge,lint,rollback,faults,locks"
    )]
    pub checks: Vec<Check>,
    #[command(flatten)]
    pub runner: RunnerArgs,
    /// Do not upgrade from every earlier version of the set.
    #[arg(long)]
    pub no_history: bool,
    /// Upgrade from at most N past versions of the set found in its git
    /// history: versions where a migration was since edited, renamed or
    /// removed (newest first; 0: none).
    #[arg(long, value_name = "N", default_value_t = crate::scenario::GIT_HISTORY)]
    pub git_history: usize,
    /// Upgrade from the set as it is at the merge base with this git
    /// revision (e.g. origin/main), and check the migrations added since
    /// (the branch) against those the revision added since, in both orders.
    #[arg(long, value_name = "REV")]
    pub changed_since: Option<String>,
    #[command(flatten)]
    pub locks: LocksArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct SnapshotArgs {
    /// A database to read (only read: in a READ ONLY transaction).
    // A String, not a clap value_parser: clap echoes rejected values.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "migrations",
        required_unless_present = "migrations"
    )]
    pub dsn: Option<String>,
    /// A migration directory, applied to an empty database on a throwaway server.
    #[arg(long, value_name = "DIR")]
    pub migrations: Option<PathBuf>,
    /// The migration directory's layout.
    #[arg(long, value_enum, default_value = "auto", value_name = "LAYOUT")]
    pub migrations_format: Format,
    #[command(flatten)]
    pub schema: SchemaArgs,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The left side (e.g. the fresh install).
    pub a: String,
    /// The right side (e.g. the upgraded database).
    pub b: String,
    #[command(flatten)]
    pub schema: SchemaArgs,
}

#[derive(Args)]
pub struct FuzzArgs {
    /// The migration directory.
    #[arg(long, value_name = "DIR", required_unless_present = "self_test")]
    pub migrations: Option<PathBuf>,
    /// The directory layout (auto-detected by default).
    #[arg(long, value_enum, default_value = "auto", value_name = "LAYOUT")]
    pub migrations_format: Format,
    /// Measure migcheck's own power instead: random schema histories, rendered correctly and with one injected defect per bug class, each through every check and the fuzzer; exit 1 unless every defect is found and no correct set is flagged.
    #[arg(long, conflicts_with_all = ["migrations", "emit", "shard", "time"])]
    pub self_test: bool,
    /// With --self-test: how many histories (default 4).
    #[arg(long, value_name = "N", requires = "self_test")]
    pub histories: Option<u64>,
    /// With --self-test: write the sets of failed trials here, to rerun them with verify.
    #[arg(long, value_name = "DIR", requires = "self_test")]
    pub keep_trials: Option<PathBuf>,
    /// Stop after this many cases of the sequence (default 500 when --time is not given).
    #[arg(long, value_name = "N", conflicts_with = "time")]
    pub cases: Option<u64>,
    /// Stop after this long instead, e.g. 90s, 1.5m or 5m (a plain number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub time: Option<Duration>,
    /// The sequence of cases: the same seed gives the same cases (default: a random seed, shown in the report).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Run only the cases i with i % N == I - 1, to split one sequence between machines.
    #[arg(long, value_name = "I/N", default_value = "1/1")]
    pub shard: Shard,
    /// Write each distinct finding as a scenario file that reproduces it into DIR.
    #[arg(long, value_name = "DIR")]
    pub emit: Option<PathBuf>,
    /// Cases run at the same time, each on its own connection and database (default: the number of CPUs + 1).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: Option<u64>,
    #[command(flatten)]
    pub runner: RunnerArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub set: SetArgs,
    /// Rows per table, one run per size on a fresh clone: 10k,100k,1M.
    #[arg(long, value_delimiter = ',', default_value = "10k,100k", value_parser = count)]
    pub rows: Vec<u64>,
    /// Run a steady writer and reader against each statement's table.
    #[arg(long)]
    pub load: bool,
    /// The first migration under test (version or file name); the ones
    /// before it are applied before rows are loaded. Default: the last.
    #[arg(long, value_name = "VERSION")]
    pub bench_from: Option<String>,
    /// ACCESS EXCLUSIVE held longer than this is `long-exclusive-lock`.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    pub lock_budget: Duration,
    /// A rewrite of a table at least this large is `table-rewrite`.
    #[arg(long, default_value = "8MB", value_parser = bytes)]
    pub rewrite_threshold: u64,
    /// The table size a linear statement's lock time is projected to.
    #[arg(long, default_value = "10M", value_parser = count)]
    pub project_rows: u64,
    /// Seed of the generated rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write a chart of time against rows per statement (SVG).
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
    /// Also send each statement with this psql on an identical clone and
    /// report migcheck's overhead over it.
    #[arg(long, value_name = "PSQL")]
    pub compare_psql: Option<PathBuf>,
    #[command(flatten)]
    pub servers: ServerArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: BenchFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print nothing but errors (the report still goes to --output).
    #[arg(long, short)]
    pub quiet: bool,
}

/// The migration set of a command that takes one directory.
#[derive(Args)]
pub struct SetArgs {
    /// The migration directory.
    #[arg(long, value_name = "DIR")]
    pub migrations: PathBuf,
    /// The migration directory's layout. (`--format` is the report's
    /// format, as everywhere in migcheck; scenarios say `format:`.)
    #[arg(long, value_enum, default_value = "auto", value_name = "LAYOUT")]
    pub migrations_format: Format,
}

/// How the application applies the set.
#[derive(Args)]
pub struct RunnerArgs {
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Transaction boundaries the application's runner uses.
    #[arg(long, value_enum, default_value = "per-file")]
    pub tx: TxMode,
}

impl RunnerArgs {
    pub fn apply(&self, scenario: &mut crate::scenario::Scenario) {
        self.mode.apply(scenario);
        scenario.tx = self.tx;
    }
}

/// Whether the application's runner executes every file again or records
/// what ran: `lint` takes this alone (transaction boundaries change
/// nothing it judges), the commands that run the set take it with `--tx`.
#[derive(Args)]
pub struct ModeArgs {
    /// How the application applies the set (default: the format's tool's
    /// runner, `tracked`, for sqlx, golang-migrate, diesel, Flyway,
    /// refinery and dbmate; `rerun-all` for a plain directory).
    #[arg(long, value_enum)]
    pub runner: Option<RunnerMode>,
}

impl ModeArgs {
    pub fn apply(&self, scenario: &mut crate::scenario::Scenario) {
        if let Some(runner) = self.runner {
            scenario.run_with(runner);
        }
    }
}

/// Where servers come from.
#[derive(Args)]
pub struct ServerArgs {
    /// Where servers come from: auto (a container if Docker can run one, else
    /// local binaries), local[:BINDIR], container[:IMAGE] (default: the official
    /// postgres:<major>, or $MIGCHECK_PG_IMAGE) or dsn:URL (an existing server).
    // A String parsed later, not a clap value_parser: clap echoes rejected
    // values, and a DSN may hold a password.
    #[arg(
        long,
        default_value = "auto",
        env = "MIGCHECK_PG",
        hide_env_values = true
    )]
    pub pg: String,
    /// Postgres major versions to run on, e.g. 13,15,17: every check runs on
    /// each (default: the newest local binaries, or postgres:17 in a container).
    #[arg(long, value_name = "MAJORS", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(9..=99))]
    pub pg_version: Vec<u32>,
    /// Run the migrations (and seeds, legacy SQL) as the server's superuser
    /// instead of a non-superuser role that owns the database. A migration
    /// can then act on the server's host as the user that runs the server
    /// (COPY ... PROGRAM, server files): only for sets you trust that need
    /// it (untrusted extensions, CREATE ROLE).
    #[arg(long)]
    pub superuser: bool,
    /// With --pg dsn:URL: run even if the URL's database holds tables
    /// (migcheck still creates and drops only its own migcheck_* databases).
    #[arg(long)]
    pub dsn_allow_tables: bool,
    /// With --pg dsn:URL: run even if the URL's user is a superuser (or may
    /// run programs or touch files on the server's host). Migrations then
    /// run with that power over the whole cluster and its host: only for a
    /// server that is itself a throwaway.
    #[arg(long)]
    pub dsn_allow_superuser: bool,
}

/// How a run that checks goes, and where its reports go.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub servers: ServerArgs,
    /// Isolation per case; auto picks the cheapest the migrations allow.
    #[arg(long, value_enum, default_value = "auto")]
    pub sandbox: SandboxChoice,
    /// Cancel a migration statement that runs longer (a `timeout` finding),
    /// e.g. 500ms, 1.5s, 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    pub statement_timeout: Duration,
    /// Cancel a migration statement that waits longer for a lock.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub lock_timeout: Duration,
    /// Keep the database of each failing scenario, on a server left
    /// running, and print how to connect to it.
    #[arg(long)]
    pub keep_failed: bool,
    /// Print "[n/total] scenario" lines to stderr even when it is not a
    /// terminal (by default only on a terminal, and never when CI is set).
    #[arg(long)]
    pub progress: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where the reports of a run go.
#[derive(Args)]
pub struct OutputArgs {
    /// Report format (human, json, junit, sarif, github, markdown);
    /// repeatable, the n-th --format goes to the n-th --output, and at most
    /// one without an --output to standard output.
    #[arg(long, value_enum)]
    pub format: Vec<OutputFormat>,
    /// Write the report of the matching --format to FILE.
    #[arg(long, value_name = "FILE")]
    pub output: Vec<PathBuf>,
    /// Print only scenarios with findings, and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `snapshot` and `diff`.
#[derive(Args)]
pub struct SchemaArgs {
    #[command(flatten)]
    pub servers: ServerArgs,
    /// Output format: `human` (stable text) or `json` (a snapshot file, or the diff's changes).
    #[arg(long, value_enum, default_value = "human")]
    pub format: SchemaFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaFormat {
    Human,
    Json,
}
