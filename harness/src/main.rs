//! The `migcheck` command: parses arguments and calls the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use migcheck::capture::{Comparison, ServerOptions, SnapshotFile, Source, capture};
use migcheck::finding::Check;
use migcheck::migrations::{Format, MigrationSet, Script};
use migcheck::postgres::PgSpec;
use migcheck::report::{OutputFormat, Report};
use migcheck::runner::{RunnerMode, TxMode};
use migcheck::sandbox::{SandboxChoice, Timeouts};
use migcheck::scenario::{self, LegacyState, Scenario};
use migcheck::verify::{self, Options};

/// Tests PostgreSQL migrations the way production runs them: on legacy
/// databases, twice in a row, and against a fresh install.
#[derive(Parser)]
#[command(name = "migcheck", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files (YAML) and compare their findings with what they expect.
    Verify {
        /// Scenario files or directories searched for *.yaml.
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        /// Run only the scenarios whose file or migrations changed since this
        /// git revision, with the merge-order check for what the branch added.
        #[arg(long, value_name = "REV")]
        changed_since: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Lint one migration directory: static analysis, no server.
    Lint {
        /// The migration directory.
        #[arg(long, value_name = "DIR")]
        migrations: PathBuf,
        /// The migration directory's layout.
        #[arg(long, value_enum, default_value = "auto", value_name = "LAYOUT")]
        migrations_format: Format,
        #[command(flatten)]
        output: Output,
    },
    /// Check one migration directory.
    Check {
        /// The migration directory.
        #[arg(long, value_name = "DIR")]
        migrations: PathBuf,
        /// A legacy state: SQL putting an empty database into the shape of an old one (repeatable).
        #[arg(long, value_name = "FILE.sql")]
        legacy: Vec<PathBuf>,
        /// What the application needs at the end: `tables`, `columns`, `indexes` (YAML).
        #[arg(long, value_name = "FILE.yaml")]
        expect: Option<PathBuf>,
        /// Which checks to run.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "fresh,rerun,converge,expect,merge,lint,rollback,faults"
        )]
        checks: Vec<Check>,
        /// How the application applies the set.
        #[arg(long, value_enum, default_value = "rerun-all")]
        runner: RunnerMode,
        /// Transaction boundaries the application's runner uses.
        #[arg(long, value_enum, default_value = "per-file")]
        tx: TxMode,
        /// The migration directory's layout. (`--format` is the report's
        /// format, as everywhere in migcheck; scenarios say `format:`.)
        #[arg(long, value_enum, default_value = "auto", value_name = "LAYOUT")]
        migrations_format: Format,
        /// Do not upgrade from every earlier version of the set.
        #[arg(long)]
        no_history: bool,
        /// Check the migrations added since this git revision (the branch)
        /// against those the revision added since the merge base, in both orders.
        #[arg(long, value_name = "REV")]
        changed_since: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Print the schema of a database or of a migration directory applied to
    /// an empty database (`--format json` writes a snapshot file for `diff`).
    Snapshot {
        /// A database to read (only read: in a READ ONLY transaction).
        // A String, not a clap value_parser: clap echoes rejected values.
        #[arg(
            long,
            value_name = "URL",
            conflicts_with = "migrations",
            required_unless_present = "migrations"
        )]
        dsn: Option<String>,
        /// A migration directory, applied to an empty database on a throwaway server.
        #[arg(long, value_name = "DIR")]
        migrations: Option<PathBuf>,
        /// The migration directory's layout.
        #[arg(long, value_enum, default_value = "auto", value_name = "LAYOUT")]
        migrations_format: Format,
        #[command(flatten)]
        schema: SchemaArgs,
    },
    /// Compare two schemas, each a connection string, a migration directory
    /// or a snapshot file. Exit code 0 when equal, 1 when they differ.
    Diff {
        /// The left side (e.g. the fresh install).
        a: String,
        /// The right side (e.g. the upgraded database).
        b: String,
        #[command(flatten)]
        schema: SchemaArgs,
    },
    /// Generate legacy states from the set's own history, run the set from
    /// each, shrink every failure to a minimal state and (with --emit)
    /// write it as a scenario file.
    Fuzz(FuzzArgs),
    /// Measure what each statement of a migration costs on large tables:
    /// time, locks, rewrites, growth with rows, blocked writers.
    Bench(BenchArgs),
}

#[derive(Args)]
struct FuzzArgs {
    /// The migration directory.
    #[arg(long, value_name = "DIR", required_unless_present = "self_test")]
    migrations: Option<PathBuf>,
    /// Measure migcheck's own power instead: random schema histories, rendered correctly and with one injected defect per bug class, each through every check and the fuzzer; exit 1 unless every defect is found and no correct set is flagged.
    #[arg(long, conflicts_with_all = ["migrations", "emit", "shard", "time"])]
    self_test: bool,
    /// With --self-test: how many histories (default 4).
    #[arg(long, value_name = "N", requires = "self_test")]
    histories: Option<u64>,
    /// With --self-test: write the sets of failed trials here, to rerun them with verify.
    #[arg(long, value_name = "DIR", requires = "self_test")]
    keep_trials: Option<PathBuf>,
    /// Stop after this many cases of the sequence (default 500 when --time is not given).
    #[arg(long, value_name = "N", conflicts_with = "time")]
    cases: Option<u64>,
    /// Stop after this long instead, e.g. 90s or 5m (a plain number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    time: Option<Duration>,
    /// The sequence of cases: the same seed gives the same cases (default: a random seed, shown in the report).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Run only the cases i with i % N == I - 1, to split one sequence between machines.
    #[arg(long, value_name = "I/N", default_value = "1/1")]
    shard: migcheck::fuzz::Shard,
    /// Write each distinct finding as a scenario file that reproduces it into DIR.
    #[arg(long, value_name = "DIR")]
    emit: Option<PathBuf>,
    /// Cases run at the same time, each on its own connection and database (default: the number of CPUs + 1).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    jobs: Option<u64>,
    /// How the application applies the set.
    #[arg(long, value_enum, default_value = "rerun-all")]
    runner: RunnerMode,
    /// Transaction boundaries of the application's runner.
    #[arg(long, value_enum, default_value = "per-file")]
    tx: TxMode,
    /// The directory layout (auto-detected by default).
    #[arg(long, value_enum, default_value = "auto", value_name = "LAYOUT")]
    migrations_format: Format,
    #[command(flatten)]
    common: Common,
}

/// Options of `snapshot` and `diff`.
#[derive(Args)]
struct SchemaArgs {
    #[command(flatten)]
    pg: PgArg,
    /// The Postgres major version to apply migration directories on.
    #[arg(long, value_name = "MAJOR")]
    pg_version: Option<u32>,
    /// Output format: `human` (stable text) or `json` (a snapshot file, or the diff's changes).
    #[arg(long, value_enum, default_value = "human")]
    format: SchemaFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SchemaFormat {
    Human,
    Json,
}

/// `migcheck bench`: its own output options (it renders markdown too) and
/// thresholds.
#[derive(Args)]
struct BenchArgs {
    /// The migration directory.
    #[arg(long, value_name = "DIR")]
    migrations: PathBuf,
    /// Rows per table, one run per size on a fresh clone: 10k,100k,1M.
    #[arg(long, value_delimiter = ',', default_value = "10k,100k", value_parser = parse_count)]
    rows: Vec<u64>,
    /// Run a steady writer and reader against each statement's table.
    #[arg(long)]
    load: bool,
    /// The first migration under test (version or file name); the ones
    /// before it are applied before rows are loaded. Default: the last.
    #[arg(long, value_name = "VERSION")]
    bench_from: Option<String>,
    /// ACCESS EXCLUSIVE held longer than this is `long-exclusive-lock`.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    lock_budget: std::time::Duration,
    /// A rewrite of a table at least this large is `table-rewrite`.
    #[arg(long, default_value = "8MB", value_parser = parse_bytes)]
    rewrite_threshold: u64,
    /// The table size a linear statement's lock time is projected to.
    #[arg(long, default_value = "10M", value_parser = parse_count)]
    project_rows: u64,
    /// Seed of the generated rows.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write a chart of time against rows per statement (SVG).
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// Also send each statement with this psql on an identical clone and
    /// report migcheck's overhead over it.
    #[arg(long, value_name = "PSQL")]
    compare_psql: Option<PathBuf>,
    /// The migration directory's layout.
    #[arg(long, value_enum, default_value = "auto", value_name = "LAYOUT")]
    migrations_format: Format,
    #[command(flatten)]
    pg: PgArg,
    /// Postgres major versions: the bench runs on each, side by side.
    #[arg(long, value_name = "MAJORS", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(9..=99))]
    pg_version: Vec<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: migcheck::bench::report::BenchFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print nothing but errors (the report still goes to --output).
    #[arg(long, short)]
    quiet: bool,
}

fn parse_count(s: &str) -> Result<u64, String> {
    migcheck::bench::parse_count(s)
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    migcheck::bench::parse_bytes(s)
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    migcheck::bench::parse_duration(s)
}

/// `--pg`, shared by every command that starts servers.
#[derive(Args)]
struct PgArg {
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
    pg: String,
}

impl PgArg {
    fn spec(&self) -> anyhow::Result<PgSpec> {
        self.pg
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--pg: {e}"))
    }
}

#[derive(Args)]
struct Common {
    #[command(flatten)]
    pg: PgArg,
    /// Postgres major versions to run on, e.g. 13,15,17: every check runs on
    /// each (default: the newest local binaries, or postgres:17 in a container).
    #[arg(long, value_name = "MAJORS", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(9..=99))]
    pg_version: Vec<u32>,
    /// With --pg dsn:URL: run even if the URL's database holds tables
    /// (migcheck still creates and drops only its own migcheck_* databases).
    #[arg(long)]
    dsn_allow_tables: bool,
    /// Isolation per case; auto picks the cheapest the migrations allow.
    #[arg(long, value_enum, default_value = "auto")]
    sandbox: SandboxChoice,
    /// Cancel a migration statement that runs longer (a `timeout` finding),
    /// e.g. 500ms, 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    statement_timeout: Duration,
    /// Cancel a migration statement that waits longer for a lock.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    lock_timeout: Duration,
    /// Keep the database of each failing scenario, on a server left
    /// running, and print how to connect to it.
    #[arg(long)]
    keep_failed: bool,
    /// Print "[n/total] scenario" lines to stderr even when it is not a
    /// terminal (by default only on a terminal, and never when CI is set).
    #[arg(long)]
    progress: bool,
    #[command(flatten)]
    output: Output,
}

impl Common {
    /// `--pg` with `--dsn-allow-tables` applied, and the majors of
    /// `--pg-version` without repeats.
    fn servers(&self) -> anyhow::Result<(PgSpec, Vec<u32>)> {
        let mut pg = self.pg.spec()?;
        match &mut pg {
            PgSpec::Dsn { allow_tables, .. } => *allow_tables = self.dsn_allow_tables,
            _ if self.dsn_allow_tables => {
                anyhow::bail!("--dsn-allow-tables applies only to --pg dsn:URL")
            }
            _ => {}
        }
        let mut versions = self.pg_version.clone();
        versions.dedup();
        Ok((pg, versions))
    }

    /// Progress on stderr: asked for, or on a terminal outside CI unless
    /// --quiet.
    fn progress(&self) -> bool {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        self.progress || (std::io::stderr().is_terminal() && !self.output.quiet && !ci)
    }
}

#[derive(Args)]
struct Output {
    /// Report format (human, json, junit, sarif, github, markdown);
    /// repeatable, the n-th --format goes to the n-th --output, and at most
    /// one without an --output to standard output.
    #[arg(long, value_enum)]
    format: Vec<OutputFormat>,
    /// Write the report of the matching --format to FILE.
    #[arg(long, value_name = "FILE")]
    output: Vec<PathBuf>,
    /// Print only scenarios with findings, and the summary.
    #[arg(long, short)]
    quiet: bool,
}

/// `500ms`, `30s`, `2m`, or seconds without a unit.
fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a duration such as 500ms, 30s or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("`{text}`: the unit is ms, s or m")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    migcheck::postgres::install_handler();
    let result = run(cli);
    // After Ctrl-C the servers are gone and whatever ran failed because of
    // it; the signal handler is exiting with 130, say so rather than blame
    // the work.
    if migcheck::postgres::interrupted() {
        eprintln!("migcheck: interrupted");
        migcheck::postgres::wait_for_cleanup();
        return ExitCode::from(130);
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let text = migcheck::error::report(e.as_ref());
            eprintln!("migcheck: error: {text}");
            if server_ended_session(&e) {
                eprintln!(
                    "migcheck: the server closed the connection: a migration may have ended its own session (pg_terminate_backend) or stopped the server"
                );
            }
            ExitCode::from(2)
        }
    }
}

/// Whether `error` comes from a session the server ended. The client sees
/// that either as a closed connection or, when the server says so first, as
/// SQLSTATE 57P01-57P03 (admin or crash shutdown, cannot connect now); the
/// SQLSTATE is not part of the error's text, so look at the error itself.
fn server_ended_session(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .is_some_and(|e| {
                e.is_closed() || e.code().is_some_and(|c| c.code().starts_with("57P0"))
            })
            || {
                // Some errors keep only the server's text, SQLSTATE included.
                let text = cause.to_string();
                text.contains("connection closed") || text.contains("SQLSTATE 57P0")
            }
    })
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let output = match &cli.command {
        Command::Lint { output, .. } => Some(output),
        Command::Verify { common, .. } | Command::Check { common, .. } => Some(&common.output),
        Command::Fuzz(args) => Some(&args.common.output),
        // One format and one output of their own.
        Command::Snapshot { .. } | Command::Diff { .. } | Command::Bench(_) => None,
    };
    if let Some(output) = output {
        destinations(output)?;
    }
    let (scenarios, checks, common) = match cli.command {
        Command::Bench(args) => return bench(args),
        Command::Fuzz(args) => return fuzz(args),
        Command::Snapshot {
            dsn,
            migrations,
            migrations_format,
            schema,
        } => {
            let source = match (dsn, migrations) {
                (Some(dsn), _) => Source::Dsn(dsn),
                (None, Some(dir)) if dir.is_dir() => Source::Migrations {
                    dir,
                    format: migrations_format,
                },
                (None, Some(dir)) => anyhow::bail!(
                    "--migrations {}: no such directory; pass the directory that holds the migration files",
                    dir.display()
                ),
                (None, None) => anyhow::bail!("pass --dsn URL or --migrations DIR"),
            };
            let [file] = capture_all(&[source], &schema)?;
            let text = match schema.format {
                SchemaFormat::Human => file.snapshot.render(),
                SchemaFormat::Json => file.to_json(),
            };
            emit(&text, schema.output.as_deref())?;
            return Ok(0);
        }
        Command::Diff { a, b, schema } => {
            let sources = [Source::from_arg(&a)?, Source::from_arg(&b)?];
            let [left, right] = capture_all(&sources, &schema)?;
            let comparison = Comparison::new(&sources, &left, &right);
            let text = match schema.format {
                SchemaFormat::Human => comparison.render(),
                SchemaFormat::Json => comparison.to_json(),
            };
            emit(&text, schema.output.as_deref())?;
            return Ok(if comparison.equal() { 0 } else { 1 });
        }
        Command::Lint {
            migrations,
            migrations_format,
            output,
        } => {
            let mut scenario = ad_hoc(&migrations, &[], None)?;
            scenario.format = migrations_format;
            let started = std::time::Instant::now();
            let report = Report {
                scenarios: vec![migcheck::pipeline::lint(&scenario)?],
                postgres: Vec::new(),
                backend: "none".into(),
                duration: started.elapsed(),
            };
            return write(&report, &output);
        }
        Command::Verify {
            paths,
            changed_since,
            common,
        } => {
            let mut scenarios = Vec::new();
            for path in &paths {
                scenarios.extend(Scenario::discover(path)?);
            }
            if let Some(rev) = changed_since {
                scenarios = migcheck::changes::select(&rev, scenarios)?;
                if scenarios.is_empty() {
                    eprintln!("migcheck: no scenario changed since {rev}");
                }
            }
            (scenarios, Check::ALL.to_vec(), common)
        }
        Command::Check {
            migrations,
            legacy,
            expect,
            checks,
            runner,
            tx,
            migrations_format,
            no_history,
            changed_since,
            common,
        } => {
            let mut scenario = ad_hoc(&migrations, &legacy, expect.as_deref())?;
            scenario.runner = runner;
            scenario.tx = tx;
            scenario.format = migrations_format;
            scenario.history = !no_history;
            if let Some(rev) = changed_since {
                let set = MigrationSet::load(&scenario.migrations, scenario.format)?;
                scenario.merge = Some(migcheck::changes::merge_groups(&rev, &set)?);
            }
            (vec![scenario], checks, common)
        }
    };
    let (pg, versions) = common.servers()?;
    let progress = common.progress();
    let options = Options {
        pg,
        pg_versions: versions,
        sandbox: common.sandbox,
        checks,
        timeouts: Timeouts {
            statement: common.statement_timeout,
            lock: common.lock_timeout,
        },
        keep_failed: common.keep_failed,
        progress: progress.then_some(print_progress as fn(usize, usize, &str)),
    };
    let report = verify::run(&scenarios, &options)?;
    // Also where a machine-readable report on stdout would hide it.
    for s in &report.scenarios {
        for note in s.kept.iter().flat_map(|k| k.notes()) {
            eprintln!("migcheck: {}: {note}", s.id);
        }
    }
    write(&report, &common.output)
}

fn fuzz(args: FuzzArgs) -> anyhow::Result<u8> {
    let common = &args.common;
    if common.keep_failed {
        anyhow::bail!(
            "fuzz does not keep databases: write the failures with --emit DIR, then run `migcheck verify --keep-failed` on a file it wrote"
        );
    }
    let seed = args.seed.unwrap_or_else(|| {
        // Any seed will do; the report shows it, so the run can be repeated.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() ^ u64::from(d.subsec_nanos()))
            % 1_000_000
    });
    // One more than the CPUs: each case waits on the server part of the
    // time (measured on 2 cores: 82 cases/s with -j 2, 91 with -j 3).
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()) + 1,
        |j| j as usize,
    );
    if args.self_test {
        return self_test(&args, seed, jobs);
    }
    let Some(migrations) = &args.migrations else {
        anyhow::bail!("pass --migrations DIR, or --self-test");
    };
    let mut scenario = ad_hoc(migrations, &[], None)?;
    scenario.runner = args.runner;
    scenario.tx = args.tx;
    scenario.format = args.migrations_format;
    let progress = common.progress();
    let options = migcheck::fuzz::Options {
        cases: args
            .cases
            .or(if args.time.is_some() { None } else { Some(500) }),
        time: args.time,
        seed,
        shard: args.shard,
        jobs,
        sandbox: common.sandbox,
        timeouts: Timeouts {
            statement: common.statement_timeout,
            lock: common.lock_timeout,
        },
        emit: args.emit.clone(),
        progress: progress.then_some(print_fuzz_progress as fn(&migcheck::fuzz::Progress)),
    };
    let (pg, versions) = common.servers()?;
    let report = migcheck::fuzz::matrix(&pg, &versions, &scenario, &options);
    if progress {
        // The progress line ends here, whatever happened.
        eprintln!();
    }
    write(&report?, &common.output)
}

/// `fuzz --self-test`: the table of detection and false positives.
fn self_test(args: &FuzzArgs, seed: u64, jobs: usize) -> anyhow::Result<u8> {
    let pg = args.common.pg.spec()?;
    let major = match args.common.pg_version.as_slice() {
        [] => None,
        [major] => Some(*major),
        _ => anyhow::bail!("--self-test runs on one server: give at most one --pg-version"),
    };
    let server = migcheck::postgres::Server::start(&pg, major)?;
    let options = migcheck::fuzz::selftest::Options {
        histories: args.histories.unwrap_or(4),
        seed,
        cases: args.cases.unwrap_or(100),
        jobs,
        keep: args.keep_trials.clone(),
    };
    let result = migcheck::fuzz::selftest::run(&server, &options)?;
    let text = result.render();
    match args.common.output.output.first() {
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
    Ok(if result.passed() { 0 } else { 1 })
}

/// One line, rewritten in place.
fn print_fuzz_progress(p: &migcheck::fuzz::Progress) {
    let rate = p.cases as f64 / p.elapsed.as_secs_f64().max(1e-9);
    let of = p.of.map(|n| format!("/{n}")).unwrap_or_default();
    eprint!(
        "\rmigcheck fuzz: {}{of} cases, {rate:.0} cases/s, {} finding{} ({} failing case{})  ",
        p.cases,
        p.distinct,
        if p.distinct == 1 { "" } else { "s" },
        p.failing,
        if p.failing == 1 { "" } else { "s" },
    );
}

fn bench(args: BenchArgs) -> anyhow::Result<u8> {
    if !args.migrations.is_dir() {
        anyhow::bail!(
            "--migrations {}: no such directory; pass the directory that holds the migration files",
            args.migrations.display()
        );
    }
    let pg = args.pg.spec()?;
    let mut pg_versions = args.pg_version.clone();
    pg_versions.dedup();
    let options = migcheck::bench::Options {
        migrations: args.migrations.clone(),
        format: args.migrations_format,
        pg,
        pg_versions,
        rows: args.rows.clone(),
        bench_from: args.bench_from.clone(),
        load: args.load,
        seed: args.seed,
        thresholds: migcheck::bench::scaling::Thresholds {
            lock_budget: args.lock_budget,
            rewrite_bytes: args.rewrite_threshold,
            project_rows: args.project_rows,
        },
        psql: args.compare_psql.clone(),
    };
    let report = migcheck::bench::run(&options)?;
    if let Some(path) = &args.chart {
        migcheck::bench::chart::write_svg(&report, path)?;
    }
    let text = report.render(args.format);
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None if args.quiet => {}
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
    Ok(report.exit_code() as u8)
}

/// The snapshots of `sources`, with a server from `--pg` if one is needed.
fn capture_all<const N: usize>(
    sources: &[Source; N],
    args: &SchemaArgs,
) -> anyhow::Result<[SnapshotFile; N]> {
    let pg = args.pg.spec()?;
    let options = ServerOptions {
        pg,
        pg_version: args.pg_version,
    };
    let files = capture(sources, &options)?;
    Ok(files
        .try_into()
        .unwrap_or_else(|_| unreachable!("one snapshot per source")))
}

/// Writes `text` to `output`, or to standard output.
fn emit(text: &str, output: Option<&Path>) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
    Ok(())
}

fn print_progress(n: usize, total: usize, what: &str) {
    eprintln!("[{n}/{total}] {what}");
}

/// Pairs each `--format` with its `--output` (`None`: standard output).
/// Checked before anything runs, so a typo costs no run.
fn destinations(output: &Output) -> anyhow::Result<Vec<(OutputFormat, Option<PathBuf>)>> {
    let formats = match output.format.as_slice() {
        [] => vec![OutputFormat::Human],
        formats => formats.to_vec(),
    };
    if output.output.len() > formats.len() {
        anyhow::bail!(
            "{} --output but {} --format: give a --format before each --output",
            output.output.len(),
            formats.len()
        );
    }
    if formats.len() > output.output.len() + 1 {
        anyhow::bail!(
            "{} --format but {} --output: only one report can go to standard output; give each other --format an --output FILE",
            formats.len(),
            output.output.len()
        );
    }
    let mut outputs = output.output.iter().cloned().map(Some);
    Ok(formats
        .into_iter()
        .map(|format| (format, outputs.next().flatten()))
        .collect())
}

/// Writes the reports where `--format` and `--output` say, and returns the
/// exit code.
fn write(report: &Report, output: &Output) -> anyhow::Result<u8> {
    for (format, path) in destinations(output)? {
        let to_terminal = path.is_none() && std::io::stdout().is_terminal();
        let color = to_terminal && std::env::var_os("NO_COLOR").is_none();
        let text = report.render(format, color, output.quiet);
        match &path {
            Some(path) => std::fs::write(path, text)
                .with_context(|| format!("cannot write the report to {}", path.display()))?,
            None => {
                let mut stdout = std::io::stdout().lock();
                // A closed pipe (`| head`) is not an error worth a message.
                let _ = stdout.write_all(text.as_bytes());
            }
        }
    }
    Ok(report.exit_code() as u8)
}

/// The scenario `migcheck check` runs: the directory, `--legacy` files as
/// legacy states named after the file, `--expect` as expectations.
fn ad_hoc(
    migrations: &Path,
    legacy: &[PathBuf],
    expect: Option<&Path>,
) -> anyhow::Result<Scenario> {
    if !migrations.is_dir() {
        anyhow::bail!(
            "--migrations {}: no such directory; pass the directory that holds the migration files",
            migrations.display()
        );
    }
    let legacy = legacy
        .iter()
        .map(|path| {
            Ok(LegacyState {
                name: path
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
                upto: None,
                sql: Some(Script::read(path)?),
                origin: path.display().to_string(),
                predicted: false,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let expect = match expect {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            scenario::from_yaml(path, &text)?
        }
        None => Default::default(),
    };
    let id = migrations
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| migrations.display().to_string());
    Ok(Scenario {
        title: id.clone(),
        id,
        file: None,
        migrations: migrations.to_path_buf(),
        format: Format::Auto,
        runner: RunnerMode::RerunAll,
        tx: TxMode::PerFile,
        legacy,
        expect,
        expect_findings: Vec::new(),
        may_keep: Vec::new(),
        history: true,
        merge: None,
        ignore: Vec::new(),
        irreversible: Vec::new(),
        not_atomic: Vec::new(),
        seed: Vec::new(),
    })
}
