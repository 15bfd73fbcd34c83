//! Making sure no server process and no file outlives migcheck.
//!
//! Normal exits and panics unwind through `Drop` (`PrivateDir`, the cluster),
//! which removes everything. Ctrl-C, SIGTERM and SIGHUP do not unwind, so a
//! process-wide registry records what is alive (a process id, a directory)
//! and a signal handler removes all of it before exiting with code 130.
//! Everything is registered before it exists: a directory is created, and a
//! process spawned, while holding the registry's lock, and not at all once
//! a signal is being handled, so a signal at any moment finds all of it.
//!
//! SIGKILL runs no handler. What a killed run left is recognisable by its
//! directory's name (`migcheck-[initdb-]<pid>-<start time>-…`, the owner
//! recorded the moment the directory exists) and removed by the next run
//! ([`reap_dirs`]), but only when that owner is provably gone.
//!
//! The registry holds only these cleanup records, never a `Server`: statics
//! are never dropped, so a server kept in one would leak.
//!
//! What lives elsewhere (a container on a Docker engine, a database on a
//! server given by `--pg dsn:`) is recorded as a [`Remote`] and removed by
//! the same handler, over the network, within a bounded time.

use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
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

/// The file in a private directory saying where its owner runs: its
/// name already holds the owner's pid and start time, this adds the host and
/// the pid namespace, without which those mean nothing.
const OWNER_FILE: &str = "owner";
/// Present in a directory left on purpose (`--keep-failed`): never reaped.
const KEPT_FILE: &str = "kept";

impl PrivateDir {
    /// A fresh `migcheck-<what><pid>-<start time>-…` directory under
    /// [`scratch_root`], readable only by its owner, registered from the
    /// moment it exists. Fails once a signal is stopping migcheck.
    pub fn new(what: &str) -> Result<PrivateDir, PostgresError> {
        let parent = scratch_root();
        let owner = Owner::current();
        let mut records = records();
        if interrupted() {
            return Err(PostgresError::Stopping);
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("migcheck-{what}{}-{}-", owner.pid, owner.started))
            // Private: the socket inside accepts anyone who can reach it.
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&parent)
            .map_err(|error| {
                PostgresError::io("create a temporary directory in", &parent, error)
            })?;
        let dir = PrivateDir::push(&mut records, dir.keep());
        drop(records);
        let owner_file = dir.path.join(OWNER_FILE);
        std::fs::write(&owner_file, owner.describe())
            .map_err(|error| PostgresError::io("write", &owner_file, error))?;
        Ok(dir)
    }

    /// Takes over deleting `path`, which the caller creates next. Fails once
    /// a signal is stopping migcheck, so that it is not created then.
    pub fn register(path: PathBuf) -> Result<PrivateDir, PostgresError> {
        let mut records = records();
        if interrupted() {
            return Err(PostgresError::Stopping);
        }
        Ok(PrivateDir::push(&mut records, path))
    }

    fn push(records: &mut Vec<Record>, path: PathBuf) -> PrivateDir {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        records.push(Record {
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

    /// Spawns `command`, the process that runs inside this directory, and
    /// records it before a signal can be handled, so that the handler stops
    /// it; refuses once a signal is stopping migcheck.
    pub fn spawn(&self, command: &mut Command) -> Result<Child, PostgresError> {
        let mut records = records();
        if interrupted() {
            return Err(PostgresError::Stopping);
        }
        let program = PathBuf::from(command.get_program());
        let child = command
            .spawn()
            .map_err(|source| PostgresError::Run { program, source })?;
        if let Some(record) = records.iter_mut().find(|record| record.id == self.id) {
            record.pid = Some(child.id() as i32);
        }
        Ok(child)
    }

    /// Records the process running in this directory, so that a signal stops
    /// it before deleting its files; `None` once it has been reaped.
    pub fn set_pid(&self, pid: Option<i32>) {
        if let Some(record) = records().iter_mut().find(|record| record.id == self.id) {
            record.pid = pid;
        }
    }

    /// Leaves the directory in place when this is dropped (`--keep-failed`):
    /// no longer deleted, on drop, on a signal, nor by a later run.
    pub fn disown(&mut self) {
        let _ = std::fs::write(self.path.join(KEPT_FILE), "kept by --keep-failed\n");
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
            remove_tree(&self.path);
        }
        records().retain(|record| record.id != self.id);
    }
}

/// Deletes `dir` and everything in it. A thread may still be writing into
/// it (a copy cut short by a signal): a file created while a directory was
/// being emptied makes that one removal fail, so try again a few times.
fn remove_tree(dir: &Path) {
    for _ in 0..REMOVE_ATTEMPTS {
        match std::fs::remove_dir_all(dir) {
            Err(error) if error.kind() != ErrorKind::NotFound => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => return,
        }
    }
}

const REMOVE_ATTEMPTS: usize = 50;

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
/// afterwards; dropping them is harmless, and nothing new starts: from now
/// on [`interrupted`] holds and starting a server fails.
pub fn stop_all() {
    // Before taking the registry: whatever registers after this sees it
    // and creates nothing, whatever registered before is found below.
    INTERRUPTED.store(true, Ordering::SeqCst);
    let mut records = records();
    let pids: Vec<i32> = records.iter().filter_map(|record| record.pid).collect();
    stop_processes(&pids);
    for record in records.drain(..) {
        remove_tree(&record.dir);
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

/// The process that owns a container or a private directory: a later run
/// removes it when no process with this pid and start time exists on this
/// host (in this pid namespace).
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

    /// Whether the process `pid` that started at `started` may still run:
    /// false only when it provably does not (no such pid, a zombie, which
    /// only waits for its parent to read its status, or another start
    /// time: a recycled pid). Without `/proc`, or with a pid hidden from us
    /// (`hidepid`) that still exists, it may.
    pub fn alive(pid: u32, started: u64) -> bool {
        if start_time(std::process::id()).is_none() {
            return true;
        }
        match start_time(pid) {
            Some(time) => time == started,
            None => {
                let Ok(pid) = i32::try_from(pid) else {
                    return false;
                };
                let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok();
                // SAFETY: signal 0 only checks that the process exists.
                let signalled = unsafe { libc::kill(pid, 0) };
                let hidden = signalled == -1
                    && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
                !zombie && hidden
            }
        }
    }

    /// The contents of a private directory's owner file.
    fn describe(&self) -> String {
        format!(
            "host={}\npid_namespace={}\npid={}\nstarted={}\n",
            self.host,
            pid_namespace().unwrap_or_default(),
            self.pid,
            self.started
        )
    }
}

/// The start time of a running (not zombie) process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it do not.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // Field 22; `fields` starts at field 3.
    fields.nth(18)?.parse().ok()
}

/// This process's pid namespace: pids (and `/proc`) of another one say
/// nothing about processes here.
pub(crate) fn pid_namespace() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(link.to_string_lossy().into_owned())
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

/// The owner (pid, start time) a private directory's name records:
/// `migcheck-[initdb-]<pid>-<start time>-<random>`; `None` for any other name.
fn owner_in_name(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix("migcheck-")?;
    let rest = rest.strip_prefix("initdb-").unwrap_or(rest);
    let mut parts = rest.splitn(3, '-');
    let number = |part: Option<&str>| {
        part.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u64>().ok())
    };
    let pid = u32::try_from(number(parts.next())?).ok()?;
    let started = number(parts.next())?;
    parts.next().filter(|random| !random.is_empty())?;
    Some((pid, started))
}

/// Removes what runs killed on this host left in the scratch roots
/// (`$MIGCHECK_TMPDIR`, /dev/shm, the temp directory): `migcheck-*` and
/// `migcheck-initdb-*` directories whose owner is provably gone, after
/// stopping what still runs in them (a postmaster via its `postmaster.pid`,
/// an initdb). A directory is left alone unless all of these hold: its name
/// records an owner, it is a directory (not a link) of ours (of our user, or
/// of the server's user when we are root), it was not kept
/// (`--keep-failed`), its owner file, if there is one yet, names this host
/// and pid namespace, and no process with that pid and start time runs.
/// Cheap when there is nothing to remove: one directory listing per root.
pub(crate) fn reap_dirs(server_uid: Option<u32>) {
    let mut roots = Vec::new();
    if let Some(dir) = std::env::var_os("MIGCHECK_TMPDIR") {
        roots.push(PathBuf::from(dir));
    }
    roots.push(PathBuf::from("/dev/shm"));
    roots.push(std::env::temp_dir());
    roots.dedup();
    let ours = Owner::current();
    let namespace = pid_namespace().unwrap_or_default();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some((pid, started)) = name.to_str().and_then(owner_in_name) else {
                continue;
            };
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let owned = meta.uid() == euid || Some(meta.uid()) == server_uid;
            if !meta.is_dir() || !owned || path.join(KEPT_FILE).exists() {
                continue;
            }
            match std::fs::read_to_string(path.join(OWNER_FILE)) {
                Ok(text) => {
                    let field = |key: &str| {
                        text.lines()
                            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                            .map(str::to_owned)
                    };
                    if field("host") != Some(ours.host.clone())
                        || field("pid_namespace") != Some(namespace.clone())
                    {
                        continue;
                    }
                }
                // Killed between creating the directory and writing the
                // file: the name alone says whose it is.
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(_) => continue,
            }
            if Owner::alive(pid, started) {
                continue;
            }
            reap_dir(&path);
        }
    }
}

/// Stops what still runs in a dead run's directory, then deletes it.
fn reap_dir(dir: &Path) {
    let data = dir.join("data");
    let postmaster = std::fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok());
    // Only the process that runs in that data directory (postgres changes
    // into it): the file may be stale and its pid someone else's by now.
    if let Some(pid) = postmaster.filter(|&pid| process_cwd(pid).as_deref() == Some(&*data)) {
        // An immediate shutdown: it stops the backends and frees its shared
        // memory, which SIGKILL would leave.
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGQUIT) };
        wait_gone(&[pid], STOP_GRACE);
    }
    // Whatever else still works inside (an initdb and its bootstrap
    // postgres, backends whose postmaster was SIGKILLed).
    let inside: Vec<i32> = processes_inside(dir);
    for &pid in &inside {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    wait_gone(&inside, STOP_GRACE);
    remove_tree(dir);
}

fn process_cwd(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

fn processes_inside(dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| process_cwd(pid).is_some_and(|cwd| cwd.starts_with(dir)))
        .collect()
}

/// Waits until none of `pids` runs (they are not our children: their new
/// parent reaps them), for at most `grace`.
fn wait_gone(pids: &[i32], grace: Duration) {
    let deadline = Instant::now() + grace;
    while pids.iter().any(|&pid| start_time(pid as u32).is_some()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once a signal (or [`stop_all`]) made migcheck stop its servers.
/// Work that fails afterwards failed because of that, and the process is
/// about to exit (code 130 after a signal): callers should not report those
/// failures as errors.
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
            stop_and_exit(SIGNAL_EXIT_CODE, None);
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
/// when it is a tmpfs with ample room (twice the cluster cap, at least
/// 2 GiB free), because creating and deleting a thousand files per cluster
/// is 3-20x slower on some disks (ext4 without a journal checks each new
/// inode against recent deletions); else the system temp directory.
pub fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("MIGCHECK_TMPDIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    let cap = max_cluster_size()
        .ok()
        .flatten()
        .unwrap_or(DEFAULT_CLUSTER_CAP);
    if free_space(shm).is_some_and(|free| free >= (2 * cap).max(2 << 30)) {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

fn statvfs(dir: &Path) -> Option<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain data, zero is a valid value; path is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0).then_some(stat)
}

fn free_space(dir: &Path) -> Option<u64> {
    let stat = statvfs(dir)?;
    Some(stat.f_bavail * stat.f_frsize)
}

/// Whether `dir` is on a tmpfs (/dev/shm, or `$MIGCHECK_TMPDIR` pointing at
/// one): files there are memory.
pub(crate) fn in_memory(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs is plain data, zero is a valid value; path is a valid C string.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return false;
    }
    stat.f_type == libc::TMPFS_MAGIC
}

/// Names the cap on a cluster's size in memory (and on a container's data).
pub(crate) const CLUSTER_CAP_ENV: &str = "MIGCHECK_MAX_CLUSTER_SIZE";
const DEFAULT_CLUSTER_CAP: u64 = 8 << 30;

/// The cap on the size of a cluster kept in memory: `$MIGCHECK_MAX_CLUSTER_SIZE`
/// (a size, or `off`), else 8 GiB; `None` when off. Real sets need room:
/// the template sandbox keeps a database per prefix of the set, and
/// crates.io's 285 migrations reach 2.4 GiB.
pub(crate) fn max_cluster_size() -> Result<Option<u64>, PostgresError> {
    let Some(value) = std::env::var_os(CLUSTER_CAP_ENV).filter(|value| !value.is_empty()) else {
        return Ok(Some(DEFAULT_CLUSTER_CAP));
    };
    let value = value.to_string_lossy();
    if value.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    crate::input::parse_size(&value)
        .filter(|&size| size > 0)
        .map(Some)
        .ok_or_else(|| PostgresError::BadSize {
            name: CLUSTER_CAP_ENV,
            value: value.into_owned(),
        })
}

/// A size for people: `64 MiB`, `2 GiB`.
pub(crate) fn show_size(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{} MiB", bytes.div_ceil(1 << 20))
    }
}

/// Stops everything as the signal handler does and ends the process with
/// code 2 after printing `message`: for a limit that must hold now (a
/// cluster outgrowing its cap in memory), wherever the work is. Work that
/// fails meanwhile sees [`interrupted`] and stays quiet; stderr is held so
/// that `message` is the last word.
pub(crate) fn abort(message: &str) -> ! {
    stop_and_exit(2, Some(message))
}

/// Holds [`CLEANING`] (so that [`wait_for_cleanup`] blocks until the
/// process ends), runs [`stop_all`] and exits with `code`, after printing
/// `message` as an error if given. With a message, stderr is locked first
/// and held to the end, so that nothing another thread writes follows it.
fn stop_and_exit(code: i32, message: Option<&str>) -> ! {
    use std::io::Write;
    let mut stderr = message.map(|message| (std::io::stderr().lock(), message));
    let _cleaning = CLEANING.lock();
    stop_all();
    if let Some((stderr, message)) = &mut stderr {
        let _ = writeln!(stderr, "migcheck: error: {message}");
    }
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_record_their_owner() {
        assert_eq!(
            owner_in_name("migcheck-4242-98765-Ab1xYz"),
            Some((4242, 98765))
        );
        assert_eq!(owner_in_name("migcheck-initdb-7-1-a2b3c4"), Some((7, 1)));
        for other in [
            "migcheck-Ab1xYz",
            "migcheck-clitest-Ab1xYz",
            "migcheck-initdb-Ab1xYz",
            "migcheck-privileges-4242",
            "migcheck-4242-98765-",
            "migcheck-+42-1-abc",
            "migcheck-99999999999-1-abc",
            "other-1-2-abc",
        ] {
            assert_eq!(owner_in_name(other), None, "{other}");
        }
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(show_size(64 << 20), "64 MiB");
        assert_eq!(show_size(2 << 30), "2 GiB");
    }

    /// This process is alive and its recorded start time says so; the same
    /// pid with another start time is a recycled pid: gone.
    #[test]
    fn owners_are_pid_and_start_time() {
        let me = Owner::current();
        assert!(Owner::alive(me.pid, me.started));
        assert!(!Owner::alive(me.pid, me.started + 1));
    }
}
