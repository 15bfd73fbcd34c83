//! The initdb cache: one initialised data directory per PostgreSQL build,
//! made once and then copied for every new cluster (initdb takes most of a
//! second; a copy takes tens of milliseconds).
//!
//! It must never expose a half-written directory, to this or any concurrent
//! process: a template is built elsewhere and renamed into place. A template
//! in place is never modified; clusters run on copies.

use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::binaries::Binaries;
use super::cleanup::{Owner, PrivateDir};
use super::copy::copy_tree;
use super::error::PostgresError;
use super::privileges::RunAs;

/// Part of the cache key: changing these makes a new template.
const INITDB_ARGS: &[&str] = &[
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",
];

/// Flags added when this initdb knows them (probed with `--help`).
/// `--wal-segsize=1` (1 MB WAL segments instead of 16 MB) shrinks what every
/// new cluster copies by a third.
const OPTIONAL_ARGS: &[(&str, &str)] = &[
    ("--no-instructions", "--no-instructions"),
    ("--wal-segsize", "--wal-segsize=1"),
];

/// Returns the template data directory for these binaries, making it first
/// if needed. Blocking; the first call per build runs initdb.
pub(crate) fn template(
    binaries: &Binaries,
    run_as: Option<&RunAs>,
) -> Result<PathBuf, PostgresError> {
    let dir = super::cache_dir().join("initdb").join(cache_name(binaries));
    if is_complete(&dir) {
        return Ok(dir);
    }
    // One initdb per process at a time; other processes are handled by the
    // rename below.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _building = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !is_complete(&dir) {
        build(binaries, run_as, &dir)?;
    }
    Ok(dir)
}

/// `<version>-<hash of bindir and initdb flags>`, e.g. `15.18-3f9c0a12b4de`.
fn cache_name(binaries: &Binaries) -> String {
    let version: String = binaries
        .version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut key = binaries.bindir.as_os_str().as_encoded_bytes().to_vec();
    for arg in INITDB_ARGS
        .iter()
        .chain(OPTIONAL_ARGS.iter().map(|(_, arg)| arg))
    {
        key.push(0);
        key.extend_from_slice(arg.as_bytes());
    }
    format!("{version}-{:012x}", fnv1a(&key) & 0xffff_ffff_ffff)
}

/// FNV-1a: stable across Rust releases (unlike `DefaultHasher`), so the
/// cache survives a toolchain upgrade.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn is_complete(dir: &Path) -> bool {
    dir.join("PG_VERSION").is_file()
}

fn build(binaries: &Binaries, run_as: Option<&RunAs>, dir: &Path) -> Result<(), PostgresError> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Err(PostgresError::io(
            "use cache directory",
            dir,
            ErrorKind::InvalidInput.into(),
        ));
    };
    std::fs::create_dir_all(parent)
        .map_err(|error| PostgresError::io("create cache directory", parent, error))?;
    if dir.exists() {
        // Not complete (checked by the caller): not ours, but only a rename
        // ever creates it, so it was damaged by hand. Rebuild it.
        std::fs::remove_dir_all(dir)
            .map_err(|error| PostgresError::io("remove damaged template", dir, error))?;
    }

    // initdb runs in a private temp dir: when we are root it runs as the
    // postgres user, which cannot write to root's cache.
    let work = PrivateDir::new("initdb-")?;
    if let Some(user) = run_as {
        user.chown(work.path())?;
        user.check_reachable(work.path())?;
    }
    let data = work.path().join("data");
    let initdb = binaries.program("initdb");
    let help = Command::new(&initdb)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| PostgresError::Run {
            program: initdb.clone(),
            source,
        })?;
    let help = String::from_utf8_lossy(&help.stdout);

    let mut command = Command::new(&initdb);
    command
        .arg("-D")
        .arg(&data)
        .args(INITDB_ARGS)
        .args(
            OPTIONAL_ARGS
                .iter()
                .filter(|(flag, _)| help.contains(flag))
                .map(|(_, arg)| arg),
        )
        .env("LC_ALL", "C")
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: the signal handler, not the terminal, stops it.
        .process_group(0);
    if let Some(user) = run_as {
        user.apply(&mut command);
    }
    let child = work.spawn(&mut command)?;
    let output = child.wait_with_output();
    work.set_pid(None);
    let output = output.map_err(|source| PostgresError::Run {
        program: initdb.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(PostgresError::Initdb {
            bindir: binaries.bindir.clone(),
            status: output.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }

    // Copy next to the final place, then rename: readers see all or nothing.
    let owner = Owner::current();
    let staging_path = parent.join(format!(
        "{}.tmp-{}-{}",
        name.to_string_lossy(),
        owner.pid,
        owner.started
    ));
    let _ = std::fs::remove_dir_all(&staging_path);
    let staging = PrivateDir::register(staging_path)?;
    copy_tree(&data, staging.path(), None)
        .map_err(|(path, error)| PostgresError::io("copy the new template to", path, error))?;
    match std::fs::rename(staging.path(), dir) {
        Ok(()) => staging.forget(),
        // Another process finished first; theirs is as good as ours.
        Err(_) if is_complete(dir) => drop(staging),
        Err(error) => return Err(PostgresError::io("move the new template to", dir, error)),
    }
    Ok(())
}

/// Removes `*.tmp-<pid>-<start time>` staging directories whose process is
/// gone (killed while building a template); `*.tmp-<pid>` ones (older
/// versions) when no process has that pid. Runs once per process, before
/// its first server (`reap_leftovers`), so before any build.
pub(crate) fn remove_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some((_, owner)) = name.to_str().and_then(|name| name.rsplit_once(".tmp-")) else {
            continue;
        };
        let gone = match owner.split_once('-') {
            Some((pid, started)) => match (pid.parse::<u32>(), started.parse::<u64>()) {
                (Ok(pid), Ok(started)) => !Owner::alive(pid, started),
                _ => false,
            },
            None => owner.parse::<i32>().is_ok_and(|pid| {
                // SAFETY: signal 0 only checks that the process exists.
                let signalled = unsafe { libc::kill(pid, 0) };
                signalled == -1
                    && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
            }),
        };
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
