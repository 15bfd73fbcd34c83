//! Reading the files a user gives migcheck: migrations, scenario files,
//! legacy SQL, `--expect` files, snapshot files. [`read`] is the one
//! function that does it, so every one of them gets the same bounds:
//!
//! - only regular files: a FIFO, a device, a socket (or a symbolic link to
//!   one, such as `-> /dev/zero`) is an error naming what it is, never a
//!   read that blocks or never ends;
//! - at most [`max_file_size`] bytes (`--max-file-size`), so that a huge
//!   file is an error that says how to raise the limit, not memory
//!   exhausted.
//!
//! It reads; it never writes, and it knows nothing of what the text means.
//!
//! Its limit is a size, so the grammar of sizes lives here too
//! ([`parse_size`]): `--max-file-size` and the command line's other sizes
//! (`cli::values::bytes`) and `MIGCHECK_MAX_CLUSTER_SIZE` (`postgres`, which
//! cannot use `cli`) all read sizes with it.

use std::fs::{File, FileType};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The limit when nothing sets one: larger than any hand-written migration
/// or scenario, small enough to fail fast on a dump or a disk image.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

/// The limit of this process. A process-wide value, like the Ctrl-C state
/// in `postgres::cleanup`: it is a property of the run (set once by the
/// command line), read by every loader however deep, and the library's
/// callers (suites, benches) get the default without passing anything.
static MAX_FILE_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_FILE_SIZE);

/// Sets the largest file, in bytes, that [`read`] accepts from now on.
pub fn set_max_file_size(bytes: u64) {
    MAX_FILE_SIZE.store(bytes, Ordering::Relaxed);
}

/// The largest file, in bytes, that [`read`] accepts.
pub fn max_file_size() -> u64 {
    MAX_FILE_SIZE.load(Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: is {what}, not a regular file; migcheck reads only regular files (a pipe or a device may block or never end): replace it with the file itself, or move it out of the way",
        path.display()
    )]
    NotRegular { path: PathBuf, what: String },
    #[error(
        "{}: {} is more than the limit of {} on an input file; raise it with --max-file-size (or MIGCHECK_MAX_FILE_SIZE), e.g. --max-file-size {}",
        path.display(),
        size.map_or_else(|| "its size".to_string(), size_text),
        size_text(*limit),
        suggestion(*size, *limit)
    )]
    TooLarge {
        path: PathBuf,
        /// The size the file system reports, when it does.
        size: Option<u64>,
        limit: u64,
    },
    #[error("{}: not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
}

/// The bytes of the regular file at `path` (a symbolic link is followed),
/// at most [`max_file_size`] of them.
pub fn read(path: &Path) -> Result<Vec<u8>, InputError> {
    read_at_most(path, max_file_size())
}

fn read_at_most(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let failed = |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Refused before it is opened: opening some devices has effects.
    let before = std::fs::metadata(path).map_err(failed)?;
    regular(path, before.file_type())?;
    // Non-blocking, so that a file swapped for a FIFO meanwhile cannot
    // block the open; the type is checked again on what was opened.
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(failed)?;
    let opened = file.metadata().map_err(failed)?;
    regular(path, opened.file_type())?;
    let too_large = |size| InputError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if opened.len() > limit {
        return Err(too_large(Some(opened.len())));
    }
    // The file may grow while it is read: never more than the limit.
    let mut bytes = Vec::with_capacity(opened.len() as usize);
    file.by_ref()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(None));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    String::from_utf8(read(path)?).map_err(|_| InputError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

fn regular(path: &Path, kind: FileType) -> Result<(), InputError> {
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    };
    let what = match std::fs::read_link(path) {
        Ok(target) => format!("{what} (a link to {})", target.display()),
        Err(_) => what.to_string(),
    };
    Err(InputError::NotRegular {
        path: path.to_path_buf(),
        what,
    })
}

/// A size in bytes: a number (a fraction too) and a unit, powers of 1024:
/// `0`, `4096`, `512kB`, `8MB`, `1.5 GB`, `2GiB`, `1T`; units `b`, `k`,
/// `kb`, `kib`, `m`, `mb`, `mib`, `g`, `gb`, `gib`, `t`, `tb`, `tib`, in
/// any case. `None` for anything else, a negative number included.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let factor: u64 = match text[split..].to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    text[..split]
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| (n * factor as f64) as u64)
}

/// A size as `--max-file-size` takes it: "64 MiB", "1.5 GiB", "512 bytes".
fn size_text(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            let value = format!("{:.2}", bytes as f64 / unit as f64);
            let value = value.trim_end_matches('0').trim_end_matches('.');
            return format!("{value} {name}");
        }
    }
    format!("{bytes} bytes")
}

/// A limit that would let the file in: the next power of two in MB above
/// its size (or twice the limit when the size is not known).
fn suggestion(size: Option<u64>, limit: u64) -> String {
    let wanted = size.unwrap_or(limit.saturating_mul(2)).max(1);
    let mb = wanted.div_ceil(1 << 20).next_power_of_two();
    format!("{mb}MB")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `path` with `limit` as the only caller of `read`'s checks, and
    /// shows the outcome with the temp directory as `DIR`.
    fn check(dir: &Path, name: &str, limit: u64, expected: &str) {
        let path = dir.join(name);
        // The process-wide limit is left alone: tests run in parallel.
        let actual = match read_at_most(&path, limit) {
            Ok(bytes) => format!("{} bytes", bytes.len()),
            Err(e) => crate::error::report(&e).replace(&dir.display().to_string(), "DIR"),
        };
        assert_eq!(actual, expected);
    }

    #[test]
    fn reads_regular_files_within_the_limit_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(d.join("ok.sql"), b"SELECT 1;").expect("write");
        std::fs::write(d.join("big.sql"), vec![b' '; 3 << 20]).expect("write");
        std::os::unix::fs::symlink("ok.sql", d.join("link.sql")).expect("symlink");
        std::os::unix::fs::symlink("/dev/zero", d.join("zero.sql")).expect("symlink");
        let fifo = std::ffi::CString::new(d.join("fifo.sql").display().to_string()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
        std::os::unix::net::UnixListener::bind(d.join("socket.sql")).expect("socket");

        let limit = DEFAULT_MAX_FILE_SIZE;
        check(d, "ok.sql", limit, "9 bytes");
        check(d, "link.sql", limit, "9 bytes");
        check(d, "ok.sql", 9, "9 bytes");
        check(
            d,
            "ok.sql",
            8,
            "DIR/ok.sql: 9 bytes is more than the limit of 8 bytes on an input file; raise it with --max-file-size (or MIGCHECK_MAX_FILE_SIZE), e.g. --max-file-size 1MB",
        );
        check(
            d,
            "big.sql",
            2 << 20,
            "DIR/big.sql: 3 MiB is more than the limit of 2 MiB on an input file; raise it with --max-file-size (or MIGCHECK_MAX_FILE_SIZE), e.g. --max-file-size 4MB",
        );
        let refused = "not a regular file; migcheck reads only regular files (a pipe or a device may block or never end): replace it with the file itself, or move it out of the way";
        check(
            d,
            "zero.sql",
            limit,
            &format!("DIR/zero.sql: is a character device (a link to /dev/zero), {refused}"),
        );
        check(
            d,
            "fifo.sql",
            limit,
            &format!("DIR/fifo.sql: is a named pipe (FIFO), {refused}"),
        );
        check(
            d,
            "socket.sql",
            limit,
            &format!("DIR/socket.sql: is a socket, {refused}"),
        );
        check(d, ".", limit, &format!("DIR/.: is a directory, {refused}"));
        check(
            d,
            "missing.sql",
            limit,
            "cannot read DIR/missing.sql: No such file or directory (os error 2)",
        );
    }

    #[test]
    fn one_size_grammar() {
        assert_eq!(parse_size("64MB"), Some(64 << 20));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size(" 1.5 g "), Some(3 << 29));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1GB"), None);
    }

    #[test]
    fn sizes_read_like_the_option() {
        assert_eq!(size_text(DEFAULT_MAX_FILE_SIZE), "64 MiB");
        assert_eq!(size_text(3 << 29), "1.5 GiB");
        assert_eq!(size_text(1000), "1000 bytes");
        assert_eq!(size_text(2000), "1.95 KiB");
        assert_eq!(suggestion(Some(70 << 20), 64 << 20), "128MB");
        assert_eq!(suggestion(None, 64 << 20), "128MB");
    }
}
