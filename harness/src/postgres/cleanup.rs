//! Making sure no server process and no file outlives migcheck.
//!
//! Normal exits and panics unwind through `Drop` (`PrivateDir`, the cluster),
//! which removes everything. Ctrl-C, SIGTERM and SIGHUP do not unwind, so a
//! process-wide registry records what is alive (a process id, a directory)
//! and a signal handler removes all of it before exiting with code 130.
//!
//! The registry holds only these cleanup records, never a `Server`: statics
//! are never dropped, so a server kept in one would leak.
//!
//! What lives elsewhere (a container on a Docker engine, a database on a
//! server given by `--pg dsn:`) is recorded as a [`Remote`] and removed by
//! the same handler, over the network, within a bounded time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use super::error::PostgresError;

/// How long an immediate shutdown (SIGQUIT) may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Exit code after a signal, as shells report an interrupted command.
const SIGNAL_EXIT_CODE: i32 = 130;

struct Record {
    id: u64,
    dir: PathBuf,
    /// Leader of its own process group (children are spawned with
    /// `process_group(0)`), so SIGKILL can reach the backends as well.
    pid: Option<i32>,
}

static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

fn records() -> MutexGuard<'static, Vec<Record>> {
    // A panic while holding the lock cannot leave a record half-written.
    RECORDS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A directory created for migcheck, deleted on drop (or on a signal) with
/// everything in it, and the process, if any, that runs inside it.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: PathBuf,
    id: u64,
}

impl PrivateDir {
    /// A fresh `migcheck-<what>…` directory under [`scratch_root`],
    /// readable only by its owner.
    pub fn new(what: &str) -> Result<PrivateDir, PostgresError> {
        let parent = scratch_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("migcheck-{what}"))
            // Private: the socket inside accepts anyone who can reach it.
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&parent)
            .map_err(|error| {
                PostgresError::io("create a temporary directory in", &parent, error)
            })?;
        // From here on the directory is ours to delete, on drop or on a signal.
        Ok(PrivateDir::register(dir.keep()))
    }

    /// Takes over deleting `path` (which must exist or be about to).
    pub fn register(path: PathBuf) -> PrivateDir {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        records().push(Record {
            id,
            dir: path.clone(),
            pid: None,
        });
        install_handler();
        PrivateDir { path, id }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the process running in this directory, so that a signal stops
    /// it before deleting its files; `None` once it has been reaped.
    pub fn set_pid(&self, pid: Option<i32>) {
        if let Some(record) = records().iter_mut().find(|record| record.id == self.id) {
            record.pid = pid;
        }
    }

    /// Leaves the directory in place when this is dropped (`--keep-failed`):
    /// no longer deleted, on drop or on a signal.
    pub fn disown(&mut self) {
        records().retain(|record| record.id != self.id);
        self.path = PathBuf::new();
    }

    /// Hands the directory over to the caller (e.g. after renaming it into a
    /// cache): it will no longer be deleted.
    pub fn forget(self) {
        records().retain(|record| record.id != self.id);
        std::mem::forget(self);
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // Deregister only after deleting, so a signal in between still finds it.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
        records().retain(|record| record.id != self.id);
    }
}

/// Stops the processes: SIGQUIT (immediate shutdown: the data is
/// throwaway), then SIGKILL to their process groups after `STOP_GRACE`.
/// Each must be a child of this process; it is reaped here.
pub(crate) fn stop_processes(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGQUIT) };
    }
    let deadline = Instant::now() + STOP_GRACE;
    for &pid in pids {
        while !reaped(pid) {
            if Instant::now() >= deadline {
                // SAFETY: as above; the group is the server and its backends.
                unsafe { libc::killpg(pid, libc::SIGKILL) };
                wait_blocking(pid);
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// True once `pid` has exited and been reaped, or is not our child (someone
/// else, e.g. the signal handler, reaped it).
fn reaped(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
        0 => false,
        -1 => std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR),
        _ => true,
    }
}

fn wait_blocking(pid: i32) {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
}

/// Stops every live cluster, deletes every directory migcheck created, and
/// removes its containers and its databases on existing servers. For
/// applications that install their own Ctrl-C handler (then ours cannot be
/// installed): call this from it. Servers still in scope are dead
/// afterwards; dropping them is harmless.
pub fn stop_all() {
    let mut records = records();
    let pids: Vec<i32> = records.iter().filter_map(|record| record.pid).collect();
    stop_processes(&pids);
    for record in records.drain(..) {
        let _ = std::fs::remove_dir_all(&record.dir);
    }
    let remotes: Vec<Remote> = remotes().drain(..).map(|(_, remote)| remote).collect();
    if !remotes.is_empty() {
        remove_remotes(remotes);
    }
}

/// Something migcheck created outside this machine's processes and files
/// (a container, a database on an existing server), with how to remove
/// it: the backend that made it says, so that cleanup knows no backend.
pub(crate) struct Remote {
    remove: Box<dyn FnOnce() -> RemoveFuture + Send>,
}

type RemoveFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Remote {
    pub fn new<F>(remove: impl FnOnce() -> F + Send + 'static) -> Remote
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Remote {
            remove: Box::new(move || Box::pin(remove())),
        }
    }
}

static REMOTES: Mutex<Vec<(u64, Remote)>> = Mutex::new(Vec::new());

fn remotes() -> MutexGuard<'static, Vec<(u64, Remote)>> {
    REMOTES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps a [`Remote`] registered for the signal handler while it lives;
/// drop it once the thing itself is gone.
#[derive(Debug)]
pub(crate) struct RemoteGuard(u64);

impl RemoteGuard {
    pub fn register(remote: Remote) -> RemoteGuard {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        remotes().push((id, remote));
        install_handler();
        RemoteGuard(id)
    }
}

impl RemoteGuard {
    /// Removes the thing now (blocking, on a thread of its own).
    pub fn remove_now(self) {
        let taken: Vec<Remote> = {
            let mut remotes = remotes();
            let (taken, kept) = std::mem::take(&mut *remotes)
                .into_iter()
                .partition(|(id, _)| *id == self.0);
            *remotes = kept;
            taken.into_iter().map(|(_, remote)| remote).collect()
        };
        remove_remotes(taken);
    }
}

impl Drop for RemoteGuard {
    fn drop(&mut self) {
        remotes().retain(|(id, _)| *id != self.0);
    }
}

/// Removes `remotes` on a thread of its own (the caller may be inside a
/// runtime, or be the signal handler), giving up after `STOP_GRACE` each.
fn remove_remotes(remotes: Vec<Remote>) {
    let removal = std::thread::spawn(move || {
        let Ok(runtime) = crate::runtime() else {
            return;
        };
        runtime.block_on(async {
            for remote in remotes {
                let removal = (remote.remove)();
                let _ = tokio::time::timeout(STOP_GRACE * 4, removal).await;
            }
        });
    });
    let _ = removal.join();
}

/// The process that owns a container: a later run removes the container
/// when no process with this pid and start time exists on this host.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub host: String,
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat`, field 22):
    /// a recycled pid has another.
    pub started: u64,
}

impl Owner {
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            pid,
            started: start_time(pid).unwrap_or(0),
        }
    }

    pub fn alive(pid: u32, started: u64) -> bool {
        start_time(pid) == Some(started)
    }
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it do not.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return "unknown".to_owned();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once a signal made migcheck stop its servers. Work that fails
/// afterwards failed because of that, and the process is about to exit
/// with code 130: callers should not report those failures as errors.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Held by the signal handler from the signal until the process exits.
static CLEANING: Mutex<()> = Mutex::new(());

/// Installs the handler that removes everything on Ctrl-C, SIGTERM and
/// SIGHUP. Done on the first server or directory anyway; a program calls it
/// at its start so that a signal during the first start is covered too.
pub fn install_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails if the application already installed a handler; it then
        // owns signals and should call `stop_all` itself.
        let _ = ctrlc::set_handler(|| {
            if SOFT_STOPS.load(Ordering::SeqCst) > 0 && !STOP_REQUESTED.swap(true, Ordering::SeqCst)
            {
                eprintln!(
                    "\nmigcheck: stopping: writing what was found so far (Ctrl-C again to quit at once)"
                );
                return;
            }
            let _cleaning = CLEANING.lock();
            INTERRUPTED.store(true, Ordering::SeqCst);
            stop_all();
            std::process::exit(SIGNAL_EXIT_CODE);
        });
    });
}

static SOFT_STOPS: AtomicUsize = AtomicUsize::new(0);
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// While held, the first signal only asks the work to stop
/// ([`stop_requested`]) so that it can report what it found, with its
/// servers still up and removed by `Drop` as on any normal exit; a second
/// signal removes everything at once, as without it. For work that finds
/// things over time (`fuzz`).
pub struct SoftStop(());

impl SoftStop {
    pub fn begin() -> SoftStop {
        install_handler();
        SOFT_STOPS.fetch_add(1, Ordering::SeqCst);
        SoftStop(())
    }
}

impl Drop for SoftStop {
    fn drop(&mut self) {
        SOFT_STOPS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// True once a signal asked the work under a [`SoftStop`] to stop.
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// After a signal ([`interrupted`]): blocks until the handler has removed
/// what migcheck created, which ends the process with code 130. The main
/// thread must not exit first: a container's removal would be cut short.
pub fn wait_for_cleanup() {
    let _done = CLEANING.lock();
}

/// Where clusters are created: `$MIGCHECK_TMPDIR` if set; else `/dev/shm`
/// when it is a tmpfs with room (at least 2 GiB free), because creating and
/// deleting a thousand files per cluster is 3-20x slower on some disks
/// (ext4 without a journal checks each new inode against recent deletions);
/// else the system temp directory.
pub fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("MIGCHECK_TMPDIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if roomy(shm) {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

fn roomy(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs is plain data, zero is a valid value; path is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return false;
    }
    let free = stat.f_bavail as u64 * stat.f_frsize as u64;
    free >= 2 << 30
}
