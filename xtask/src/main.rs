//! `cargo xtask`: all of migcheck's automation, with few dependencies.
//!
//!   cargo xtask verify [ARGS]   run the bundled scenarios (migcheck verify scenarios)
//!   cargo xtask test [ARGS]     run the whole test suite (cargo test --workspace)
//!   cargo xtask deps            install what building and testing need, if missing
//!   cargo xtask ci              formatting, clippy, tests and verify, as CI runs them

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

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
        "verify" => {
            deps()?;
            let mut args = vec![
                "run",
                "--package",
                "harness",
                "--bin",
                "migcheck",
                "--",
                "verify",
            ];
            if rest.iter().all(|a| a.starts_with('-')) {
                args.push("scenarios");
            }
            args.extend(rest.iter().map(String::as_str));
            cargo(&args)
        }
        "test" => {
            deps()?;
            let mut args = vec!["test", "--workspace"];
            args.extend(rest.iter().map(String::as_str));
            cargo(&args)
        }
        "deps" => deps(),
        "ci" => {
            deps()?;
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])?;
            cargo(&["test", "--workspace"])?;
            cargo(&[
                "run",
                "--package",
                "harness",
                "--bin",
                "migcheck",
                "--",
                "verify",
                "scenarios",
            ])
        }
        "help" | "--help" | "-h" => {
            println!(
                "{}",
                include_str!("main.rs")
                    .lines()
                    .take(6)
                    .map(|l| l.trim_start_matches("//!"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            Ok(())
        }
        other => bail!("unknown task `{other}`; run `cargo xtask help`"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// What building and testing need from the system: libclang (the
/// `pg_query` crate generates its bindings with it) and Postgres server
/// binaries. Installed with apt-get when missing and we are root on a
/// Debian-like system; otherwise a clear message says what to install.
fn deps() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !has_libclang() {
        missing.push("libclang-dev");
    }
    if !has_postgres() {
        missing.push("postgresql");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let apt = Path::new("/usr/bin/apt-get").exists();
    if !(root && apt) {
        bail!(
            "missing system packages: {}. Install them (Debian/Ubuntu: `sudo apt-get install {}`), \
             or point MIGCHECK_PG_BINDIR at a directory holding initdb and postgres",
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
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    if !status.success() {
        bail!("apt-get install {} failed ({status})", missing.join(" "));
    }
    Ok(())
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
    subdirs("/usr/lib/postgresql").any(|d| d.join("bin/initdb").exists())
        || std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("initdb").exists()))
}

fn subdirs(dir: &str) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
}
