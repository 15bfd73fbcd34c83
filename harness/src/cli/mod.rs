//! The `migcheck` command line: the arguments (`args`), the grammars of
//! their values (`values`), the one writer of what it prints (`output`),
//! and here, one function per command that turns arguments into a call of
//! the library. Nothing here checks migrations.

pub mod args;
mod output;
mod values;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::capture::{Comparison, ServerOptions, SnapshotFile, Source, capture};
use crate::finding::Check;
use crate::migrations::{MigrationSet, Script};
use crate::postgres::PgSpec;
use crate::report::Report;
use crate::sandbox::Timeouts;
use crate::scenario::{self, LegacyState, Scenario};
use crate::verify;
use args::{
    BenchArgs, CheckArgs, Cli, Command, DiffArgs, FuzzArgs, LintArgs, RunArgs, SchemaArgs,
    SchemaFormat, ServerArgs, SnapshotArgs, VerifyArgs,
};

/// Runs the command `cli` names; exit code 0 (no error finding), 1 (error
/// findings), 2 (migcheck could not do its job) or 130 (interrupted).
pub fn run(cli: Cli) -> ExitCode {
    crate::postgres::install_handler();
    crate::input::set_max_file_size(cli.max_file_size);
    let result = dispatch(cli);
    // After Ctrl-C the servers are gone and whatever ran failed because of
    // it; the signal handler is exiting with 130, say so rather than blame
    // the work.
    if crate::postgres::interrupted() {
        eprintln!("migcheck: interrupted");
        crate::postgres::wait_for_cleanup();
        return ExitCode::from(130);
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // An error can quote a file name or a server's message.
            let error = crate::report::printable(&crate::error::report(e.as_ref()));
            eprintln!("migcheck: error: {error}");
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

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Verify(args) => verify(args),
        Command::Check(args) => check(args),
        Command::Lint(args) => lint(args),
        Command::Snapshot(args) => snapshot(args),
        Command::Diff(args) => diff(args),
        Command::Fuzz(args) => fuzz(args),
        Command::Bench(args) => bench(args),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    output::destinations(&args.run.output)?;
    let mut scenarios = Scenario::discover_all(&args.paths)?;
    if let Some(rev) = args.changed_since {
        scenarios = crate::git::changes::select(&rev, scenarios)?;
        if scenarios.is_empty() {
            eprintln!("migcheck: no scenario changed since {rev}");
        }
    }
    if let Some(n) = args.git_history {
        for scenario in &mut scenarios {
            scenario.git_history = n;
        }
    }
    for scenario in &mut scenarios {
        args.locks.apply(scenario);
    }
    run_scenarios(scenarios, Check::ALL.to_vec(), &args.run)
}

fn check(args: CheckArgs) -> anyhow::Result<u8> {
    output::destinations(&args.run.output)?;
    let mut scenario = ad_hoc(&args.set.migrations, &args.legacy, args.expect.as_deref())?;
    args.runner.apply(&mut scenario);
    scenario.format = args.set.migrations_format;
    scenario.history = !args.no_history;
    scenario.git_history = args.git_history;
    if let Some(rev) = args.changed_since {
        let set = MigrationSet::load(&scenario.migrations, scenario.format)?;
        scenario.merge = Some(crate::git::changes::merge_groups(&rev, &set)?);
        scenario.base = Some(rev);
    }
    args.locks.apply(&mut scenario);
    run_scenarios(vec![scenario], args.checks, &args.run)
}

/// `verify` and `check`: the scenarios through the pipeline, on every
/// asked major.
fn run_scenarios(
    mut scenarios: Vec<Scenario>,
    checks: Vec<Check>,
    run: &RunArgs,
) -> anyhow::Result<u8> {
    let (pg, versions) = servers(&run.servers)?;
    for scenario in &mut scenarios {
        scenario.superuser |= run.servers.superuser;
    }
    let options = verify::Options {
        pg,
        pg_versions: versions,
        sandbox: run.sandbox,
        checks,
        timeouts: timeouts(run),
        keep_failed: run.keep_failed,
        progress: progress(run).then_some(print_progress as fn(usize, usize, &str)),
    };
    let report = verify::run(&scenarios, &options)?;
    // Also where a machine-readable report on stdout would hide it.
    for s in &report.scenarios {
        for note in s.kept.iter().flat_map(|k| k.notes()) {
            let note = crate::report::printable(&format!("{}: {note}", s.id));
            eprintln!("migcheck: {note}");
        }
    }
    output::report(&report, &run.output)
}

fn lint(args: LintArgs) -> anyhow::Result<u8> {
    output::destinations(&args.output)?;
    let mut scenario = ad_hoc(&args.set.migrations, &[], None)?;
    scenario.format = args.set.migrations_format;
    args.runner.apply(&mut scenario);
    let started = Instant::now();
    let report = Report {
        scenarios: vec![crate::pipeline::lint(&scenario)?],
        postgres: Vec::new(),
        backend: "none".into(),
        duration: started.elapsed(),
    };
    output::report(&report, &args.output)
}

fn snapshot(args: SnapshotArgs) -> anyhow::Result<u8> {
    let source = match (args.dsn, args.migrations) {
        (Some(dsn), _) => Source::Dsn(dsn),
        (None, Some(dir)) => Source::Migrations {
            dir: existing_dir(&dir)?.to_path_buf(),
            format: args.migrations_format,
        },
        (None, None) => anyhow::bail!("pass --dsn URL or --migrations DIR"),
    };
    let [file] = capture_all(&[source], &args.schema)?;
    let text = match args.schema.format {
        SchemaFormat::Human => file.snapshot.render(),
        SchemaFormat::Json => file.to_json(),
    };
    output::emit(&text, args.schema.output.as_deref())?;
    Ok(0)
}

fn diff(args: DiffArgs) -> anyhow::Result<u8> {
    let sources = [Source::from_arg(&args.a)?, Source::from_arg(&args.b)?];
    let [left, right] = capture_all(&sources, &args.schema)?;
    let comparison = Comparison::new(&sources, &left, &right);
    let text = match args.schema.format {
        SchemaFormat::Human => comparison.render(),
        SchemaFormat::Json => comparison.to_json(),
    };
    output::emit(&text, args.schema.output.as_deref())?;
    Ok(if comparison.equal() { 0 } else { 1 })
}

/// The snapshots of `sources`, with a server from `--pg` if one is needed.
fn capture_all<const N: usize>(
    sources: &[Source; N],
    args: &SchemaArgs,
) -> anyhow::Result<[SnapshotFile; N]> {
    let (pg, versions) = servers(&args.servers)?;
    let pg_version = match versions.as_slice() {
        [] => None,
        [major] => Some(*major),
        _ => anyhow::bail!("snapshot and diff run on one server: give at most one --pg-version"),
    };
    let files = capture(
        sources,
        &ServerOptions {
            pg,
            pg_version,
            superuser: args.servers.superuser,
        },
    )?;
    Ok(files
        .try_into()
        .unwrap_or_else(|_| unreachable!("one snapshot per source")))
}

fn fuzz(args: FuzzArgs) -> anyhow::Result<u8> {
    let run = &args.run;
    output::destinations(&run.output)?;
    if run.keep_failed {
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
    args.runner.apply(&mut scenario);
    scenario.format = args.migrations_format;
    scenario.superuser = run.servers.superuser;
    let progress = progress(run);
    let options = crate::fuzz::Options {
        cases: args
            .cases
            .or(if args.time.is_some() { None } else { Some(500) }),
        time: args.time,
        seed,
        shard: args.shard,
        jobs,
        sandbox: run.sandbox,
        timeouts: timeouts(run),
        emit: args.emit.clone(),
        // A line rewritten in place on a terminal; in a log, a line when
        // shrinking starts on each finding (it may take a while).
        progress: match (progress, run.output.quiet) {
            (true, _) => Some(print_fuzz_progress as fn(&crate::fuzz::Progress)),
            (false, false) => Some(print_fuzz_phase as fn(&crate::fuzz::Progress)),
            (false, true) => None,
        },
    };
    let (pg, versions) = servers(&run.servers)?;
    let report = crate::fuzz::matrix(&pg, &versions, &scenario, &options);
    if progress {
        // The progress line ends here, whatever happened.
        eprintln!();
    }
    output::report(&report?, &run.output)
}

/// `fuzz --self-test`: the table of detection and false positives.
fn self_test(args: &FuzzArgs, seed: u64, jobs: usize) -> anyhow::Result<u8> {
    let (pg, versions) = servers(&args.run.servers)?;
    let major = match versions.as_slice() {
        [] => None,
        [major] => Some(*major),
        _ => anyhow::bail!("--self-test runs on one server: give at most one --pg-version"),
    };
    let server = crate::postgres::Server::start(&pg, major)?;
    let options = crate::fuzz::selftest::Options {
        histories: args.histories.unwrap_or(4),
        seed,
        cases: args.cases.unwrap_or(100),
        jobs,
        keep: args.keep_trials.clone(),
    };
    let result = crate::fuzz::selftest::run(&server, &options)?;
    output::emit(
        &result.render(),
        args.run.output.output.first().map(PathBuf::as_path),
    )?;
    Ok(if result.passed() { 0 } else { 1 })
}

/// One line, rewritten in place.
fn print_fuzz_progress(p: &crate::fuzz::Progress) {
    if let Some((n, of, steps)) = p.shrinking {
        eprint!("\rmigcheck fuzz: shrinking finding {n} of {of}: {steps} cases tried          ");
        return;
    }
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

/// `--quiet` not given, stderr not a terminal: one line per finding
/// that shrinking starts on.
fn print_fuzz_phase(p: &crate::fuzz::Progress) {
    if let Some((n, of, 1)) = p.shrinking {
        eprintln!(
            "migcheck fuzz: {} cases run; shrinking finding {n} of {of}",
            p.cases
        );
    }
}

fn bench(args: BenchArgs) -> anyhow::Result<u8> {
    existing_dir(&args.set.migrations)?;
    let (pg, pg_versions) = servers(&args.servers)?;
    let options = crate::bench::Options {
        migrations: args.set.migrations.clone(),
        format: args.set.migrations_format,
        pg,
        pg_versions,
        rows: args.rows.clone(),
        bench_from: args.bench_from.clone(),
        load: args.load,
        seed: args.seed,
        thresholds: crate::bench::scaling::Thresholds {
            lock_budget: args.lock_budget,
            rewrite_bytes: args.rewrite_threshold,
            project_rows: args.project_rows,
        },
        psql: args.compare_psql.clone(),
        superuser: args.servers.superuser,
    };
    let report = crate::pipeline::bench(&options)?;
    if let Some(path) = &args.chart {
        crate::bench::chart::write_svg(&report, path)?;
    }
    if args.output.is_some() || !args.quiet {
        output::emit(&report.render(args.format), args.output.as_deref())?;
    }
    Ok(report.exit_code() as u8)
}

/// `--pg` with `--dsn-allow-tables` and `--dsn-allow-superuser` applied, and the majors of
/// `--pg-version` without repeats.
fn servers(args: &ServerArgs) -> anyhow::Result<(PgSpec, Vec<u32>)> {
    let mut pg: PgSpec = args
        .pg
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--pg: {e}"))?;
    match &mut pg {
        PgSpec::Dsn {
            allow_tables,
            allow_superuser,
            ..
        } => {
            *allow_tables = args.dsn_allow_tables;
            *allow_superuser = args.dsn_allow_superuser;
        }
        _ if args.dsn_allow_tables => {
            anyhow::bail!("--dsn-allow-tables applies only to --pg dsn:URL")
        }
        _ if args.dsn_allow_superuser => {
            anyhow::bail!("--dsn-allow-superuser applies only to --pg dsn:URL")
        }
        _ => {}
    }
    let mut versions = args.pg_version.clone();
    versions.dedup();
    Ok((pg, versions))
}

fn timeouts(run: &RunArgs) -> Timeouts {
    Timeouts {
        statement: run.statement_timeout,
        lock: run.lock_timeout,
    }
}

/// Progress on stderr: asked for, or on a terminal outside CI unless
/// --quiet.
fn progress(run: &RunArgs) -> bool {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    run.progress || (std::io::stderr().is_terminal() && !run.output.quiet && !ci)
}

fn print_progress(n: usize, total: usize, what: &str) {
    eprintln!("[{n}/{total}] {}", crate::report::printable(what));
}

fn existing_dir(dir: &Path) -> anyhow::Result<&Path> {
    if !dir.is_dir() {
        anyhow::bail!(
            "--migrations {}: no such directory; pass the directory that holds the migration files",
            dir.display()
        );
    }
    Ok(dir)
}

/// The scenario `migcheck check` runs: the directory, `--legacy` files as
/// legacy states named after the file, `--expect` as expectations.
fn ad_hoc(
    migrations: &Path,
    legacy: &[PathBuf],
    expect: Option<&Path>,
) -> anyhow::Result<Scenario> {
    existing_dir(migrations)?;
    let legacy = legacy
        .iter()
        .map(|path| {
            Ok(LegacyState {
                name: path
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
                upto: None,
                deployed: None,
                sql: Some(Script::read(path)?),
                origin: path.display().to_string(),
                source: scenario::Source::Written,
                premise: None,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let expect = match expect {
        Some(path) => {
            let text = crate::input::read_text(path)?;
            scenario::from_yaml(path, &text)?
        }
        None => Default::default(),
    };
    Ok(Scenario {
        legacy,
        expect,
        ..Scenario::ad_hoc(migrations, crate::migrations::Format::Auto)
    })
}
