//! The life of a local cluster: a private copy of the cached template, a
//! postmaster spawned on it, waiting until it accepts connections, and
//! stopping it.
//!
//! Only this file spawns the server process. It must not touch the template
//! (clusters run on copies) nor outlive its `Cluster`: dropping one stops the
//! server and deletes its directory.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::binaries::Binaries;
use super::cleanup::{PrivateDir, stop_processes};
use super::copy::copy_tree;
use super::error::PostgresError;
use super::privileges::RunAs;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(2);
/// Another process may take the port between our probe and the server's bind.
const PORT_ATTEMPTS: usize = 5;
const LOG_TAIL_LINES: usize = 20;

/// Settings for a throwaway server: durability off (nothing here must
/// survive a crash), TCP on loopback only.
const SETTINGS: &[&str] = &[
    "listen_addresses=127.0.0.1",
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
    port: u16,
    /// The postmaster, while it is running and not yet reaped.
    pid: Option<i32>,
}

impl Cluster {
    /// Copies `template` into a fresh `migcheck-*` temp directory and starts
    /// a postmaster on it. Blocks until it accepts connections.
    pub fn start(
        binaries: &Binaries,
        template: &Path,
        run_as: Option<&RunAs>,
    ) -> Result<Cluster, PostgresError> {
        let dir = PrivateDir::new("")?;
        if let Some(user) = run_as {
            user.chown(dir.path())?;
            user.check_reachable(dir.path())?;
        }
        let data_dir = dir.path().join("data");
        copy_tree(template, &data_dir, run_as.map(|user| (user.uid, user.gid))).map_err(
            |(path, error)| PostgresError::io("copy the cached cluster to", path, error),
        )?;
        let log = dir.path().join("postgres.log");
        let mut cluster = Cluster {
            dir,
            data_dir,
            log,
            port: 0,
            pid: None,
        };

        let mut attempt = 0;
        loop {
            attempt += 1;
            cluster.port = free_port()?;
            cluster.check_socket_path()?;
            cluster.spawn(binaries, run_as)?;
            match cluster.wait_ready() {
                Ok(()) => return Ok(cluster),
                Err(Startup::Exited(_)) if attempt < PORT_ATTEMPTS && cluster.lost_port() => {
                    continue;
                }
                Err(Startup::Exited(status)) => {
                    return Err(PostgresError::Exited {
                        version: binaries.version.clone(),
                        status,
                        template: template.to_owned(),
                        log_tail: cluster.log_tail(),
                    });
                }
                // Dropping `cluster` stops the server that never got ready.
                Err(Startup::NotReady) => {
                    return Err(PostgresError::NotReady {
                        version: binaries.version.clone(),
                        waited: READY_TIMEOUT,
                        log_tail: cluster.log_tail(),
                    });
                }
                Err(Startup::Error(error)) => return Err(error),
            }
        }
    }

    /// The directory holding the data directory, the socket and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn port(&self) -> u16 {
        self.port
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
        let program = binaries.program("postgres");
        let mut command = Command::new(&program);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-k")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
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
        let child = command
            .spawn()
            .map_err(|source| PostgresError::Run { program, source })?;
        let pid = child.id() as i32;
        self.pid = Some(pid);
        self.dir.set_pid(Some(pid));
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

    /// The server died because another process took its port first.
    fn lost_port(&self) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains("could not bind"))
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
        let path = self.dir.path().join(format!(".s.PGSQL.{}", self.port));
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
        let dir = self.dir.path().to_path_buf();
        let pid = self.pid.take();
        self.dir.disown();
        (dir, pid)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
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

fn free_port() -> Result<u16, PostgresError> {
    let probe = |error| PostgresError::io("find a free port on", "127.0.0.1", error);
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(probe)?;
    Ok(listener.local_addr().map_err(probe)?.port())
}
