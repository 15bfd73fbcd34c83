//! Copying a directory tree (a cached data directory) fast, keeping modes and
//! optionally giving the copy to another owner.
//!
//! This is on the path of every fresh cluster, so it is measured: directories
//! are made first, then files are copied on a few threads, each with
//! `copy_file_range` (via `io::copy`) and no extra path lookups. It must not
//! follow symlinks out of the tree or modify the source.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// More threads than this only contend for the same disk.
const MAX_THREADS: usize = 4;

/// Copies `src` to `dst` (which must not exist). With `owner`, every copied
/// entry is chowned to that (uid, gid). On error, returns the path that failed.
pub(crate) fn copy_tree(
    src: &Path,
    dst: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), (PathBuf, io::Error)> {
    let mut files = Vec::new();
    make_dirs(src, dst, owner, &mut files)?;

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS);
    let next = AtomicUsize::new(0);
    let failure = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(files.len().max(1)) {
            scope.spawn(|| {
                while let Some((from, to, mode)) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(error) = copy_file(from, to, *mode, owner) {
                        let mut failure = failure
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                        failure.get_or_insert((to.clone(), error));
                        // Stop the other threads early too.
                        next.store(files.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    match failure
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
    {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// Creates `dst` and every directory below it (and symlinks), and lists the
/// regular files to copy as (from, to, mode).
fn make_dirs(
    src: &Path,
    dst: &Path,
    owner: Option<(u32, u32)>,
    files: &mut Vec<(PathBuf, PathBuf, u32)>,
) -> Result<(), (PathBuf, io::Error)> {
    let mode = fs::metadata(src).map_err(at(src))?.permissions().mode() & 0o7777;
    fs::DirBuilder::new()
        .mode(mode)
        .create(dst)
        .map_err(at(dst))?;
    // The umask may have removed bits; postgres insists on 0700 or 0750.
    fs::set_permissions(dst, fs::Permissions::from_mode(mode)).map_err(at(dst))?;
    chown(dst, owner).map_err(at(dst))?;

    for entry in fs::read_dir(src).map_err(at(src))? {
        let entry = entry.map_err(at(src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry.file_type().map_err(at(&from))?;
        if kind.is_dir() {
            make_dirs(&from, &to, owner, files)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&from).map_err(at(&from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(at(&to))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::lchown(&to, Some(uid), Some(gid)).map_err(at(&to))?;
            }
        } else {
            let mode = entry.metadata().map_err(at(&from))?.permissions().mode() & 0o7777;
            files.push((from, to, mode));
        }
    }
    Ok(())
}

/// Attaches the failing path to an error, allocating only on failure.
fn at(path: &Path) -> impl FnOnce(io::Error) -> (PathBuf, io::Error) + '_ {
    move |error| (path.to_owned(), error)
}

fn copy_file(from: &Path, to: &Path, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    let mut source = File::open(from)?;
    let mut target = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&target, Some(uid), Some(gid))?;
    }
    // The umask may have removed bits from the requested mode.
    target.set_permissions(fs::Permissions::from_mode(mode))?;
    io::copy(&mut source, &mut target)?;
    Ok(())
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)),
        None => Ok(()),
    }
}
