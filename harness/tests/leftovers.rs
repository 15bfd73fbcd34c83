//! What a run leaves behind and who can reach its servers, with the real
//! binary: Ctrl-C at any moment of a start leaves nothing; SIGKILL (which
//! runs no handler) leaves a server or an initdb directory that the next
//! run removes, whatever the moment; what is alive, kept or not provably
//! migcheck's is never removed; a cluster in memory cannot outgrow its cap;
//! and no other user of the machine can connect to a local server.
//!
//! The assertions are about what is left once runs have ended, never about
//! timing: a signal may land before, during or after any step.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_nothing_left, interrupt, migcheck, private_tmp, write};
use migcheck::postgres::{PgSpec, Server};

/// A migration directory: `sql` as its only migration.
fn migrations(sql: &str) -> tempfile::TempDir {
    let input = tempfile::Builder::new()
        .prefix("migcheck-leftovers-input-")
        .tempdir()
        .expect("temp dir");
    write(input.path(), &[("m/001_a.sql", sql.as_bytes())]);
    input
}

/// `check --checks fresh` of `input` with `tmp` as scratch, and `cache` as
/// the initdb cache if given.
fn run(tmp: &Path, input: &Path, cache: Option<&Path>) -> Command {
    let m = input.join("m").display().to_string();
    let mut command = migcheck(tmp, &["check", "--migrations", &m, "--checks", "fresh"]);
    if let Some(cache) = cache {
        command.env("MIGCHECK_CACHE_DIR", cache);
    }
    command
}

fn spawn(tmp: &Path, input: &Path, cache: Option<&Path>) -> Child {
    run(tmp, input, cache)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn migcheck")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A run that needs a server and ends well: it must remove what earlier
/// runs left in `tmp` (and in `cache`).
fn next_run(tmp: &Path, cache: Option<&Path>) {
    let input = migrations("CREATE TABLE a (id int);\n");
    let output = run(tmp, input.path(), cache)
        .output()
        .expect("run migcheck");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

/// An initdb cache of its own (so that initdb runs), which the server's
/// user can enter.
fn fresh_cache() -> tempfile::TempDir {
    let cache = tempfile::Builder::new()
        .prefix("migcheck-leftovers-cache-")
        .tempdir()
        .expect("temp dir");
    std::fs::set_permissions(
        cache.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    cache
}

/// Asserts that the initdb cache holds no staging copy, only templates.
fn assert_no_staging(cache: &Path) {
    let staging: Vec<_> = std::fs::read_dir(cache.join("initdb"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(staging.is_empty(), "staging copies left: {staging:?}");
}

/// The entries of `tmp` whose names start with `prefix`.
fn entries(tmp: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .expect("read tmp")
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
        .map(|entry| entry.path())
        .collect()
}

/// Processes whose command line mentions `tmp`.
fn processes_in(tmp: &Path) -> usize {
    let needle = tmp.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(&needle))
        .count()
}

/// Polls until `done` holds, for at most 60 s.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill(child: &mut Child) {
    child.kill().expect("SIGKILL migcheck");
    child.wait().expect("wait");
}

#[test]
fn a_run_killed_mid_run_leaves_a_server_that_the_next_run_removes() {
    let tmp = private_tmp();
    let input = migrations("SELECT pg_sleep(60);\n");
    let mut child = spawn(tmp.path(), input.path(), None);
    wait_for("a ready server", || {
        entries(tmp.path(), "migcheck-").iter().any(|dir| {
            std::fs::read_to_string(dir.join("data/postmaster.pid"))
                .is_ok_and(|pid_file| pid_file.contains("ready"))
        })
    });
    kill(&mut child);
    assert!(
        processes_in(tmp.path()) > 0,
        "SIGKILL runs no handler: the server should still run"
    );

    next_run(tmp.path(), None);
    assert_nothing_left(tmp.path());
}

#[test]
fn ctrl_c_at_any_moment_of_a_start_leaves_nothing() {
    let tmp = private_tmp();
    let input = migrations("SELECT pg_sleep(60);\n");
    let cache = fresh_cache();
    // With the initdb cache warm (a copy of the template), then cold (initdb
    // runs, then the new template is copied into the cache).
    for cache in [None, Some(cache.path())] {
        for delay in [30, 60, 100, 150] {
            let mut child = spawn(tmp.path(), input.path(), cache);
            std::thread::sleep(Duration::from_millis(delay));
            interrupt(&mut child);
            assert_nothing_left(tmp.path());
            if let Some(cache) = cache {
                assert_no_staging(cache);
            }
        }
    }
    next_run(tmp.path(), Some(cache.path()));
    assert_nothing_left(tmp.path());
}

#[test]
fn a_run_killed_during_initdb_leaves_what_the_next_run_removes() {
    let tmp = private_tmp();
    let cache = fresh_cache();
    let input = migrations("SELECT 1;\n");
    let mut child = spawn(tmp.path(), input.path(), Some(cache.path()));
    wait_for("initdb to start", || {
        !entries(tmp.path(), "migcheck-initdb-").is_empty()
    });
    kill(&mut child);
    assert!(
        !entries(tmp.path(), "migcheck-initdb-").is_empty(),
        "SIGKILL runs no handler: initdb's directory should be left"
    );

    next_run(tmp.path(), Some(cache.path()));
    assert_nothing_left(tmp.path());
    assert_no_staging(cache.path());
}

/// This process's start time, as `/proc/<pid>/stat` gives it (field 22).
fn own_start_time() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let after_name = &stat[stat.rfind(')').expect("name") + 1..];
    after_name
        .split_whitespace()
        .nth(19)
        .expect("field 22")
        .parse()
        .expect("a number")
}

fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    assert_eq!(
        unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) },
        0
    );
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// Only what is provably a dead migcheck's is removed: a directory whose
/// owner is alive, on another host, unknown, or kept stays.
#[test]
fn only_what_dead_runs_of_this_host_left_is_removed() {
    let tmp = private_tmp();
    let (pid, started) = (std::process::id(), own_start_time());
    let namespace = std::fs::read_link("/proc/self/ns/pid").expect("pid namespace");
    let owner = |host: &str| {
        format!(
            "host={host}\npid_namespace={}\npid={pid}\nstarted={started}\n",
            namespace.display()
        )
    };
    let here = owner(&hostname());
    let elsewhere = owner("another-host");
    let dead = started + 1; // this pid, recycled: its first owner is gone
    let cases: [(String, Option<&str>, bool); 7] = [
        (
            format!("migcheck-{pid}-{started}-alive1"),
            Some(&here),
            true,
        ),
        (format!("migcheck-{pid}-{dead}-dead01"), Some(&here), false),
        (
            format!("migcheck-initdb-{pid}-{dead}-dead02"),
            Some(&here),
            false,
        ),
        // Killed before it could write the owner file.
        (format!("migcheck-{pid}-{dead}-dead03"), None, false),
        (
            format!("migcheck-{pid}-{dead}-other1"),
            Some(&elsewhere),
            true,
        ),
        ("migcheck-Ab1xYz".to_owned(), None, true),
        (format!("migcheck-{pid}-{dead}-kept01"), Some(&here), true),
    ];
    for (name, owner, _) in &cases {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("postgres.log"), "").expect("write");
        if let Some(owner) = owner {
            std::fs::write(dir.join("owner"), owner).expect("write");
        }
        if name.contains("kept") {
            std::fs::write(dir.join("kept"), "").expect("write");
        }
    }

    next_run(tmp.path(), None);
    for (name, _, stays) in &cases {
        assert_eq!(tmp.path().join(name).exists(), *stays, "{name}");
    }
    for (name, _, _) in &cases {
        let _ = std::fs::remove_dir_all(tmp.path().join(name));
    }
    assert_nothing_left(tmp.path());
}

/// A cluster `--keep-failed` left stays for a person to look at, whatever
/// later runs do; the printed command removes it.
#[test]
fn a_kept_cluster_survives_later_runs() {
    let tmp = private_tmp();
    let input = migrations("CREATE TABLE a (id int);\n");
    let m = input.path().join("m").display().to_string();
    let args = [
        "check",
        "--migrations",
        &m,
        "--checks",
        "fresh,rerun",
        "--keep-failed",
    ];
    let output = migcheck(tmp.path(), &args).output().expect("run migcheck");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let remove = stderr
        .lines()
        .find_map(|line| {
            line.split_once("remove it with: ")
                .map(|(_, r)| r.to_owned())
        })
        .unwrap_or_else(|| panic!("no removal command in:\n{stderr}"));
    let kept = entries(tmp.path(), "migcheck-");
    assert_eq!(kept.len(), 1, "{kept:?}");

    next_run(tmp.path(), None);
    assert!(
        kept[0].join("data/postmaster.pid").exists(),
        "the kept cluster was removed"
    );
    assert!(processes_in(tmp.path()) > 0, "the kept server was stopped");

    let removed = Command::new("sh")
        .arg("-c")
        .arg(&remove)
        .status()
        .expect("sh");
    assert!(removed.success(), "{remove}");
    assert_nothing_left(tmp.path());
}

/// A migration that writes more than `MIGCHECK_MAX_CLUSTER_SIZE` into a
/// cluster in memory ends the run with an error naming the cap and what to
/// do, and leaves nothing. Without the cap it would write about 600 MB.
#[test]
fn a_cluster_in_memory_cannot_outgrow_its_cap() {
    let tmp = private_tmp();
    if !on_tmpfs(tmp.path()) {
        eprintln!("skipped: {} is not on a tmpfs", tmp.path().display());
        return;
    }
    // Rows under the TOAST threshold are stored as they are: uncompressed.
    let input = migrations(
        "CREATE TABLE big AS SELECT g, repeat('x', 1000) AS filler FROM generate_series(1, 300000) g;\n",
    );
    let output = run(tmp.path(), input.path(), None)
        .env("MIGCHECK_MAX_CLUSTER_SIZE", "64MB")
        .output()
        .expect("run migcheck");
    let text = text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    for needle in ["64 MiB", "MIGCHECK_MAX_CLUSTER_SIZE", "MIGCHECK_TMPDIR"] {
        assert!(text.contains(needle), "no {needle} in:\n{text}");
    }
    assert!(!text.contains("panicked"), "{text}");
    assert_nothing_left(tmp.path());

    let output = run(tmp.path(), input.path(), None)
        .env("MIGCHECK_MAX_CLUSTER_SIZE", "lots")
        .output()
        .expect("run migcheck");
    assert_eq!(output.status.code(), Some(2), "{}", self::text(&output));
    assert!(
        self::text(&output).contains("MIGCHECK_MAX_CLUSTER_SIZE=\"lots\" is not a size"),
        "{}",
        self::text(&output)
    );
    assert_nothing_left(tmp.path());
}

fn on_tmpfs(dir: &Path) -> bool {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: statfs is plain data, zero is a valid value; path is a valid C string.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(path.as_ptr(), &mut stat) }) == 0 && stat.f_type == libc::TMPFS_MAGIC
}

/// The inodes of the TCP sockets listening on this machine.
fn tcp_listeners() -> Vec<String> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    // State 0A: LISTEN; field 10: the inode.
                    (fields.get(3) == Some(&"0A")).then(|| fields.get(9).map(|i| i.to_string()))?
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The inodes of the sockets process `pid` holds.
fn sockets_of(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's descriptors")
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect()
}

/// A local server has no TCP socket, and its Unix socket is in a directory
/// no other user may enter: a second, unprivileged user cannot connect,
/// while the same psql command works for the user that runs migcheck.
#[test]
fn no_other_user_can_reach_a_local_server() {
    let server = Server::start(&PgSpec::Local { bindir: None }, None).expect("a local server");
    let pid = server.pid().expect("a local server");
    let listening = tcp_listeners();
    let sockets = sockets_of(pid);
    assert!(!sockets.is_empty(), "the server holds no socket at all");
    assert!(
        sockets.iter().all(|socket| !listening.contains(socket)),
        "the server listens on TCP"
    );

    let psql = server
        .bindir()
        .expect("a local server")
        .join("psql")
        .display()
        .to_string();
    let dir = server.dir().expect("a local server").display().to_string();
    let port = server.port().to_string();
    let connect = |user: Option<&str>, host: &str| {
        let mut command = match user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--", &psql]);
                command
            }
            None => Command::new(&psql),
        };
        command
            .args(["-h", host, "-p", &port, "-U", "postgres", "-d", "postgres"])
            .args(["-X", "-At", "-c", "SHOW listen_addresses"])
            .env("PGCONNECT_TIMEOUT", "5")
            .current_dir("/")
            .output()
            .expect("run psql")
    };
    let own = connect(None, &dir);
    assert!(own.status.success(), "{}", text(&own));
    assert_eq!(
        String::from_utf8_lossy(&own.stdout).trim(),
        "",
        "listen_addresses"
    );

    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped the second user: only root can act as another one");
        return;
    }
    let other = connect(Some("nobody"), &dir);
    assert!(
        !other.status.success(),
        "nobody connected: {}",
        text(&other)
    );
    assert!(
        text(&other).contains("Permission denied"),
        "{}",
        text(&other)
    );
    drop(server);
}
