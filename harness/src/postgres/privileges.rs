//! Running initdb and postgres as an unprivileged user when migcheck is root.
//!
//! Both programs refuse to run as root, so a root migcheck starts them as the
//! `postgres` system user and hands it the files they need. This module must
//! not change migcheck's own credentials: only the children's.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::PostgresError;

const SYSTEM_USER: &str = "postgres";

/// The user that runs the server when migcheck itself is root.
#[derive(Debug, Clone)]
pub(crate) struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// `None` when migcheck is not root: children then simply run as us.
pub(crate) fn run_as() -> Result<Option<RunAs>, PostgresError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    lookup(SYSTEM_USER)
        .map(Some)
        .ok_or(PostgresError::NoUnprivilegedUser { user: SYSTEM_USER })
}

fn lookup(name: &str) -> Option<RunAs> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: passwd is plain data; all-zero is a valid (empty) value.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and the buffer length is
    // its real length; getpwnam_r (unlike getpwnam) is thread-safe.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(RunAs {
        name: name.to_owned(),
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

impl RunAs {
    /// std also drops supplementary groups (setgroups(0)) when a root
    /// parent sets the uid, so the child holds exactly this uid and gid.
    pub fn apply(&self, command: &mut Command) {
        command.uid(self.uid).gid(self.gid);
    }

    pub fn chown(&self, path: &Path) -> Result<(), PostgresError> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .map_err(|error| PostgresError::io("change the owner of", path, error))
    }

    /// Fails when this user could not reach `dir`: postgres would then die
    /// with a bare "Permission denied" in a log nobody reads.
    pub fn check_reachable(&self, dir: &Path) -> Result<(), PostgresError> {
        match dir.ancestors().find(|ancestor| !self.can_enter(ancestor)) {
            None => Ok(()),
            Some(blocked) => Err(PostgresError::NotTraversable {
                user: self.name.clone(),
                dir: PathBuf::from(blocked),
            }),
        }
    }

    /// Fails when this user could not reach the binaries in `bindir`
    /// (e.g. installed under root's home): initdb would fail with a bare
    /// "Permission denied".
    pub fn check_runnable(&self, bindir: &Path) -> Result<(), PostgresError> {
        match bindir
            .ancestors()
            .find(|ancestor| !self.can_enter(ancestor))
        {
            None => Ok(()),
            Some(blocked) => Err(PostgresError::BinariesUnreachable {
                user: self.name.clone(),
                bindir: bindir.to_owned(),
                blocked: PathBuf::from(blocked),
            }),
        }
    }

    /// POSIX checks only the first class that matches (owner, group,
    /// other); the child has no supplementary groups (see `apply`).
    fn can_enter(&self, dir: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(dir) else {
            return false;
        };
        let mode = meta.mode();
        if meta.uid() == self.uid {
            mode & 0o100 != 0
        } else if meta.gid() == self.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// Binaries under a directory only its owner may enter (like /root)
    /// are refused for another user, naming that directory; once others
    /// may enter it they are accepted.
    #[test]
    fn binaries_behind_a_private_directory() {
        let home = std::env::temp_dir().join(format!("migcheck-privileges-{}", std::process::id()));
        let bindir = home.join("pg").join("bin");
        std::fs::create_dir_all(&bindir).expect("create test dirs");
        let meta = std::fs::metadata(&home).expect("stat");
        // Neither owner nor group of `home`: "other" applies.
        let stranger = RunAs {
            name: "stranger".to_owned(),
            uid: meta.uid() + 1,
            gid: meta.gid() + 1,
        };

        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let refused = stranger.check_runnable(&bindir);
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let accepted = stranger.check_runnable(&bindir);
        std::fs::remove_dir_all(&home).expect("clean up");

        match refused {
            Err(PostgresError::BinariesUnreachable { blocked, .. }) => assert_eq!(blocked, home),
            other => panic!(
                "expected BinariesUnreachable for {}, got {other:?}",
                home.display()
            ),
        }
        // Only `home` changed; a private TMPDIR above it may still block.
        match accepted {
            Ok(()) => {}
            Err(PostgresError::BinariesUnreachable { blocked, .. }) => {
                assert!(
                    home.starts_with(&blocked) && blocked != home,
                    "{}",
                    blocked.display()
                );
            }
            Err(other) => panic!("{other}"),
        }
    }
}
