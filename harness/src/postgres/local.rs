//! The life of a local cluster: a private copy of the cached template, a
//! postmaster spawned on it, waiting until it accepts connections, and
//! stopping it.
//!
//! Only this file spawns the server process. It must not touch the template
//! (clusters run on copies) nor outlive its `Cluster`: dropping one stops the
//! server and deletes its directory.
//!
//! The server listens on a Unix socket only, in the cluster's private 0700
//! directory: no other user can reach it, whatever its authentication says.
//! A cluster in memory (a tmpfs such as /dev/shm) is watched so that it
//! cannot grow past a cap (`SizeWatch`).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::binaries::Binaries;
use super::cleanup::{self, PrivateDir, stop_processes};
use super::copy::copy_tree;
use super::error::PostgresError;
use super::privileges::RunAs;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(2);
const LOG_TAIL_LINES: usize = 20;
/// Only names the socket (`.s.PGSQL.5432`): nothing listens on TCP, and the
/// directory is the cluster's own, so every cluster can use the same.
const PORT: u16 = 5432;

/// Settings for a throwaway server: no TCP at all (the Unix socket in the
/// private directory is the only way in), durability off (nothing here
/// must survive a crash), bounded temporary files.
const SETTINGS: &[&str] = &[
    "listen_addresses=",
    // A sort or hash that spills more than this fails with an error
    // instead of filling the disk (or, in /dev/shm, the memory).
    "temp_file_limit=1GB",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=100",
    // A sandbox walks a whole set in one transaction, which holds a lock
    // on every object it creates until the end: a few hundred migrations
    // outgrow the default 64 per connection ("out of shared memory").
    "max_locks_per_transaction=1024",
    // Dynamic shared memory as files in the data directory, deleted with
    // the cluster: the default (posix) leaves /dev/shm/PostgreSQL.* behind
    // whenever a server is stopped immediately or killed.
    "dynamic_shared_memory_type=mmap",
];

/// Line 8 of postmaster.pid, written by PostgreSQL 10 and newer.
const PID_FILE_STATUS_LINE: usize = 7;

#[derive(Debug)]
pub(crate) struct Cluster {
    /// Dropped after `Drop::drop` has stopped the server: deletes all files.
    dir: PrivateDir,
    data_dir: PathBuf,
    log: PathBuf,
    /// The postmaster, while it is running and not yet reaped.
    pid: Option<i32>,
    /// Watches the size of a cluster in memory; stopped before the server.
    watch: Option<SizeWatch>,
}

impl Cluster {
    /// Copies `template` into a fresh `migcheck-*` temp directory and starts
    /// a postmaster on it. Blocks until it accepts connections.
    pub fn start(
        binaries: &Binaries,
        template: &Path,
        run_as: Option<&RunAs>,
    ) -> Result<Cluster, PostgresError> {
        let cap = cleanup::max_cluster_size()?;
        let dir = PrivateDir::new("")?;
        if let Some(user) = run_as {
            user.chown(dir.path())?;
            user.check_reachable(dir.path())?;
        }
        let data_dir = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        let mut cluster = Cluster {
            dir,
            data_dir,
            log,
            pid: None,
            watch: None,
        };
        cluster.check_socket_path()?;
        copy_tree(
            template,
            &cluster.data_dir,
            run_as.map(|user| (user.uid, user.gid)),
        )
        .map_err(|(path, error)| PostgresError::io("copy the cached cluster to", path, error))?;
        cluster.spawn(binaries, run_as)?;
        if let Some(cap) = cap.filter(|_| cleanup::in_memory(cluster.dir.path())) {
            cluster.watch = Some(SizeWatch::start(cluster.dir.path().to_owned(), cap));
        }
        match cluster.wait_ready() {
            Ok(()) => Ok(cluster),
            Err(Startup::Exited(status)) => Err(PostgresError::Exited {
                version: binaries.version.clone(),
                status,
                template: template.to_owned(),
                log_tail: cluster.log_tail(),
            }),
            // Dropping `cluster` stops the server that never got ready.
            Err(Startup::NotReady) => Err(PostgresError::NotReady {
                version: binaries.version.clone(),
                waited: READY_TIMEOUT,
                log_tail: cluster.log_tail(),
            }),
            Err(Startup::Error(error)) => Err(error),
        }
    }

    /// The directory holding the data directory, the socket and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Names the socket in [`Cluster::dir`]; nothing listens on TCP.
    pub fn port(&self) -> u16 {
        PORT
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid.map(|pid| pid as u32)
    }

    fn spawn(&mut self, binaries: &Binaries, run_as: Option<&RunAs>) -> Result<(), PostgresError> {
        let log = File::create(&self.log)
            .map_err(|error| PostgresError::io("create", &self.log, error))?;
        let log_too = log
            .try_clone()
            .map_err(|error| PostgresError::io("open", &self.log, error))?;
        let mut command = Command::new(binaries.program("postgres"));
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-k")
            .arg(self.dir.path())
            .arg("-p")
            .arg(PORT.to_string())
            .args(SETTINGS.iter().flat_map(|setting| ["-c", setting]))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            // Its own process group: a terminal's Ctrl-C reaches only
            // migcheck, whose handler stops the server; and SIGKILL to the
            // group also reaches backends if a shutdown hangs.
            .process_group(0);
        if let Some(user) = run_as {
            user.apply(&mut command);
        }
        let child = self.dir.spawn(&mut command)?;
        self.pid = Some(child.id() as i32);
        // `child` is dropped without waiting: the pid is reaped with waitpid
        // in `reap` or `stop_processes`.
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<(), Startup> {
        let started = Instant::now();
        let pid_file = self.data_dir.join("postmaster.pid");
        loop {
            if let Some(status) = self.reap().map_err(Startup::Error)? {
                return Err(Startup::Exited(status));
            }
            if let (Ok(text), Some(pid)) = (std::fs::read_to_string(&pid_file), self.pid) {
                let lines: Vec<&str> = text.lines().map(str::trim).collect();
                let own = lines.first() == Some(&pid.to_string().as_str());
                if own && lines.get(PID_FILE_STATUS_LINE) == Some(&"ready") {
                    return Ok(());
                }
            }
            if started.elapsed() >= READY_TIMEOUT {
                return Err(Startup::NotReady);
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// If the postmaster has exited, reaps it and says how it ended.
    fn reap(&mut self) -> Result<Option<String>, PostgresError> {
        let Some(pid) = self.pid else { return Ok(None) };
        let mut status = 0;
        // SAFETY: status is a valid out-pointer.
        let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if reaped == 0 {
            return Ok(None);
        }
        self.pid = None;
        self.dir.set_pid(None);
        if reaped == -1 {
            let error = std::io::Error::last_os_error();
            return Err(PostgresError::io(
                "wait for postgres in",
                self.dir.path(),
                error,
            ));
        }
        Ok(Some(if libc::WIFEXITED(status) {
            format!("exit status {}", libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            format!("signal {}", libc::WTERMSIG(status))
        } else {
            format!("wait status {status}")
        }))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        if tail.is_empty() {
            "(the log is empty)".to_owned()
        } else {
            tail.join("\n")
        }
    }

    /// Postgres would refuse a socket path longer than `sun_path` with a
    /// message that does not say what to do.
    fn check_socket_path(&self) -> Result<(), PostgresError> {
        let path = self.dir.path().join(format!(".s.PGSQL.{PORT}"));
        // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
        let address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        let max = address.sun_path.len() - 1;
        if path.as_os_str().len() > max {
            return Err(PostgresError::SocketPathTooLong { path, max });
        }
        Ok(())
    }
}

impl Cluster {
    /// Leaves the server running and its files in place after this is
    /// dropped (`--keep-failed`); returns the directory and the postmaster.
    pub(crate) fn keep(mut self) -> (PathBuf, Option<i32>) {
        self.watch.take();
        let dir = self.dir.path().to_path_buf();
        let pid = self.pid.take();
        self.dir.disown();
        (dir, pid)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Before the files go: the watch must not measure a vanishing tree.
        self.watch.take();
        if let Some(pid) = self.pid.take() {
            stop_processes(&[pid]);
            self.dir.set_pid(None);
        }
        // `self.dir` is dropped next and deletes the files.
    }
}

enum Startup {
    Exited(String),
    NotReady,
    Error(PostgresError),
}

/// The cap on a cluster in memory. /dev/shm is RAM (all of it, here), and a
/// migration that inserts a few million rows fills it in seconds. Postgres
/// has no setting for the size of a cluster and a tmpfs of our own needs
/// mount privileges, so a thread measures the cluster's directory (the
/// blocks its files really use) every `WATCH_EVERY` and, past the cap, ends
/// the run as a Ctrl-C would (`cleanup::abort`: every server stopped, every
/// directory deleted) with an error that names the cap. Between two samples
/// the cluster can outgrow the cap by what Postgres writes in that time
/// (tens of MB); /dev/shm is chosen only with twice the cap free.
/// Measuring costs a directory walk (a thousand files per database): on
/// clusters with many databases the interval grows so that the walk takes
/// at most a tenth of one core.
#[derive(Debug)]
struct SizeWatch {
    /// Dropping it wakes the thread, which then ends.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const WATCH_EVERY: Duration = Duration::from_millis(100);

impl SizeWatch {
    fn start(dir: PathBuf, cap: u64) -> SizeWatch {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut every = WATCH_EVERY;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let started = Instant::now();
                let size = disk_usage(&dir);
                every = WATCH_EVERY.max(started.elapsed() * 10);
                if size > cap {
                    cleanup::abort(&format!(
                        "the cluster in {dir} grew past {cap} in memory ({size} on a tmpfs): \
                         a migration or seed writes that much. Raise the cap with \
                         {env}=16GB (or off), or put clusters on disk with \
                         MIGCHECK_TMPDIR=/var/tmp",
                        dir = dir.display(),
                        cap = cleanup::show_size(cap),
                        size = cleanup::show_size(size),
                        env = cleanup::CLUSTER_CAP_ENV,
                    ));
                }
            }
        });
        SizeWatch {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for SizeWatch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The bytes the files under `dir` occupy (allocated blocks, as `du`),
/// not following links; what cannot be read counts as nothing.
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => meta.blocks() * 512 + disk_usage(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
