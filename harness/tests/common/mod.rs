//! What the command-line tests share: a private TMPDIR per run, the
//! `migcheck` binary, and the check that nothing was left behind.
#![allow(dead_code)] // each test file uses its own part

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness lives in the workspace")
        .to_path_buf()
}

/// A private temp directory the server's unprivileged user can traverse;
/// in memory when the machine has /dev/shm, where migcheck would put its
/// clusters anyway (on some disks creating a cluster's files is 10x slower).
pub fn private_tmp() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("migcheck-clitest-")
        .tempdir_in(parent)
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

pub fn migcheck(tmp: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    command
        .args(args)
        .current_dir(workspace())
        .env("TMPDIR", tmp)
        .env("MIGCHECK_TMPDIR", tmp)
        .env("NO_COLOR", "1")
        // Tests choose their backend; `auto` would depend on Docker.
        .env("MIGCHECK_PG", "local");
    command
}

/// Asserts that `tmp` is empty and no process mentions it.
pub fn assert_nothing_left(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp)
        .expect("read tmp")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        tmp.display()
    );
    let needle = tmp.to_string_lossy().into_owned();
    let processes: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect();
    assert!(
        processes.is_empty(),
        "processes left running: {processes:?}"
    );
}

/// As [`assert_nothing_left`], where the test itself put `keep` in `tmp`.
pub fn assert_nothing_left_but(tmp: &Path, keep: &str) {
    std::fs::remove_dir_all(tmp.join(keep)).expect("remove the test's own files");
    assert_nothing_left(tmp);
}

/// `git -C dir args`, as a test user; fails the test when git does.
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@migcheck.invalid"])
        .args(args)
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

pub fn write(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
}

/// A run busy in a migration that sleeps `seconds`, on the backend `pg`
/// (default: the tests' local one): the child (stdout and stderr piped)
/// and the directory holding the migration, to keep while the run lasts.
pub fn sleeping_run(
    tmp: &Path,
    seconds: u32,
    pg: Option<&str>,
) -> (std::process::Child, tempfile::TempDir) {
    let input = tempfile::Builder::new()
        .prefix("migcheck-clitest-input-")
        .tempdir()
        .expect("temp dir");
    let sql = format!("SELECT pg_sleep({seconds});\n");
    write(input.path(), &[("m/001_slow.sql", sql.as_bytes())]);
    let migrations = input.path().join("m").to_string_lossy().into_owned();
    let mut args = vec!["check", "--migrations", &migrations];
    if let Some(pg) = pg {
        args.extend(["--pg", pg]);
    }
    let child = migcheck(tmp, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn migcheck");
    (child, input)
}

/// Sends Ctrl-C (SIGINT) to `child` and waits for it to exit, for at most
/// 20 seconds.
pub fn interrupt(child: &mut std::process::Child) -> std::process::ExitStatus {
    use std::time::{Duration, Instant};
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "migcheck did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
