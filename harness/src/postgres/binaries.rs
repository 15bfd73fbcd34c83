//! Finding PostgreSQL server binaries (`initdb` and `postgres`) on this
//! machine and reading their version.
//!
//! Looks only; it must not start a server or write anything. The search order
//! is part of the contract (see `find`), so a user can predict which
//! installation wins.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::error::{Looked, PostgresError};

pub(crate) const BINDIR_ENV: &str = "MIGCHECK_PG_BINDIR";

/// The first major whose postmaster.pid carries the readiness line we wait on.
const OLDEST_MAJOR: u32 = 10;

/// A directory with `initdb` and `postgres`, and the version they report.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub bindir: PathBuf,
    pub version: String,
    pub major: u32,
}

impl Binaries {
    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

/// What `search` found, remembered: it spawns `pg_config` and `postgres
/// --version`, and every `Server::start` asks. Keyed by everything the search
/// reads, so changing the environment searches again.
pub(crate) fn find(explicit: Option<&Path>, major: Option<u32>) -> Result<Binaries, PostgresError> {
    type Key = (
        Option<PathBuf>,
        Option<u32>,
        Option<OsString>,
        Option<OsString>,
        PathBuf,
    );
    static FOUND: Mutex<Option<HashMap<Key, Binaries>>> = Mutex::new(None);
    let key = (
        explicit.map(Path::to_owned),
        major,
        std::env::var_os(BINDIR_ENV),
        std::env::var_os("PATH"),
        super::cache_dir(),
    );
    if let Some(found) = FOUND
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get_or_insert_default()
        .get(&key)
    {
        return Ok(found.clone());
    }
    let found = search(explicit, major)?;
    FOUND
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get_or_insert_default()
        .insert(key, found.clone());
    Ok(found)
}

/// Finds binaries, in this order: `explicit` (from `--pg local:DIR`), then
/// `$MIGCHECK_PG_BINDIR`, `pg_config --bindir`, a `postgres` on `PATH`,
/// `/usr/lib/postgresql/*/bin` (newest first), `/usr/pgsql-*/bin`,
/// `/usr/local/pgsql/bin`, and finally `<cache>/pg/*/bin` where provisioning
/// puts downloaded builds. With `major`, the first candidate of that major
/// version wins.
///
/// A directory the user named (either `explicit` or the environment
/// variable) must hold the binaries; a typo there is an error, not a reason to
/// quietly use another installation.
fn search(explicit: Option<&Path>, major: Option<u32>) -> Result<Binaries, PostgresError> {
    if let Some(bindir) = explicit {
        return named(bindir, "--pg local:", major);
    }
    let mut looked = Vec::new();
    match std::env::var_os(BINDIR_ENV) {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            match named(&dir, "MIGCHECK_PG_BINDIR=", major) {
                Err(PostgresError::WrongVersion { found, .. }) => looked.push(Looked {
                    place: BINDIR_ENV.to_owned(),
                    found: format!("{}: PostgreSQL {found}", dir.display()),
                }),
                other => return other,
            }
        }
        _ => looked.push(Looked {
            place: BINDIR_ENV.to_owned(),
            found: "not set".to_owned(),
        }),
    }

    let mut seen = HashSet::new();
    for candidate in candidates() {
        let (place, dir) = match candidate {
            Candidate::Nothing(nothing) => {
                looked.push(nothing);
                continue;
            }
            Candidate::Dir(place, dir) => (place, dir),
        };
        let found = match check_dir(&dir) {
            Err(problem) => problem,
            // Two places often name one installation (a PATH symlink, pg_config).
            Ok(()) if !seen.insert(std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) => {
                "the same installation as above".to_owned()
            }
            Ok(()) => match version_of(&dir) {
                Err(problem) => problem,
                Ok((version, found_major)) if major.is_none_or(|wanted| wanted == found_major) => {
                    return Ok(Binaries {
                        bindir: dir,
                        version,
                        major: found_major,
                    });
                }
                Ok((version, _)) => format!("PostgreSQL {version}"),
            },
        };
        looked.push(Looked {
            place,
            found: format!("{}: {found}", dir.display()),
        });
    }
    Err(PostgresError::NoBinaries {
        wanted: major,
        looked,
    })
}

/// A directory the user named: it must work, or the error says why.
fn named(
    bindir: &Path,
    origin: &'static str,
    major: Option<u32>,
) -> Result<Binaries, PostgresError> {
    let bad = |problem: String| PostgresError::BadBindir {
        origin,
        bindir: bindir.to_owned(),
        problem,
    };
    check_dir(bindir).map_err(bad)?;
    let (version, found_major) = version_of(bindir).map_err(bad)?;
    match major {
        Some(wanted) if wanted != found_major => Err(PostgresError::WrongVersion {
            origin,
            bindir: bindir.to_owned(),
            found: version,
            wanted,
        }),
        _ => Ok(Binaries {
            bindir: bindir.to_owned(),
            version,
            major: found_major,
        }),
    }
}

enum Candidate {
    /// A directory to check, and where its name came from.
    Dir(String, PathBuf),
    /// A place that named no directory; kept so the error lists it.
    Nothing(Looked),
}

fn nothing(place: impl Into<String>, found: &str) -> Candidate {
    Candidate::Nothing(Looked {
        place: place.into(),
        found: found.to_owned(),
    })
}

/// Every place after the named ones, in search order.
fn candidates() -> Vec<Candidate> {
    let mut out = Vec::new();

    match on_path("pg_config") {
        None => out.push(nothing("pg_config --bindir", "no pg_config on PATH")),
        Some(pg_config) => match pg_config_bindir(&pg_config) {
            Ok(dir) => out.push(Candidate::Dir("pg_config --bindir".to_owned(), dir)),
            Err(problem) => out.push(nothing(
                format!("{} --bindir", pg_config.display()),
                &problem,
            )),
        },
    }

    match on_path("postgres") {
        // Resolve symlinks: initdb sits next to the real binary, not the link.
        Some(postgres) => {
            let real = std::fs::canonicalize(&postgres).unwrap_or(postgres);
            if let Some(dir) = real.parent() {
                out.push(Candidate::Dir(
                    "postgres on PATH".to_owned(),
                    dir.to_owned(),
                ));
            }
        }
        None => out.push(nothing("PATH", "no postgres on PATH")),
    }

    let cache = super::cache_dir().join("pg");
    let globs = [
        (PathBuf::from("/usr/lib/postgresql"), ""),
        (PathBuf::from("/usr"), "pgsql-"),
        (PathBuf::from("/usr/local"), "pgsql"),
        (cache, ""),
    ];
    for (parent, prefix) in globs {
        let place = format!("{}/{prefix}*/bin", parent.display());
        let found = versioned_subdirs(&parent, prefix, "bin");
        if found.is_empty() {
            out.push(nothing(place.as_str(), "none"));
        }
        out.extend(
            found
                .into_iter()
                .map(|dir| Candidate::Dir(place.clone(), dir)),
        );
    }
    out
}

/// `<parent>/<prefix><version>/<bin>` directories, newest version first.
fn versioned_subdirs(parent: &Path, prefix: &str, bin: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            // Hidden names are work in progress (`pg install` unpacks into
            // `<cache>/pg/.tmp-*` before renaming), never an installation.
            if name.starts_with('.') {
                return None;
            }
            let version = name.strip_prefix(prefix)?;
            let dir = entry.path().join(bin);
            dir.is_dir().then(|| (version_key(version), dir))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// "16.4" -> [16, 4]; "9.6" -> [9, 6]; "16" sorts above "15.9".
fn version_key(name: &str) -> Vec<u32> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect()
}

fn check_dir(dir: &Path) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(if dir.exists() {
            "not a directory"
        } else {
            "does not exist"
        }
        .to_owned());
    }
    let missing: Vec<&str> = ["initdb", "postgres"]
        .into_iter()
        .filter(|name| !is_executable(&dir.join(name)))
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        names => Err(format!("no {} there", names.join(" and no "))),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn pg_config_bindir(pg_config: &Path) -> Result<PathBuf, String> {
    let output = Command::new(pg_config)
        .arg("--bindir")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("could not run it: {error}"))?;
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || dir.is_empty() {
        return Err(format!("failed ({})", output.status));
    }
    Ok(PathBuf::from(dir))
}

/// `postgres --version`, remembered per directory: a process spawn each.
fn version_of(bindir: &Path) -> Result<(String, u32), String> {
    static KNOWN: Mutex<Option<HashMap<PathBuf, (String, u32)>>> = Mutex::new(None);
    let mut known = KNOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(found) = known.get_or_insert_default().get(bindir) {
        return Ok(found.clone());
    }
    let postgres = bindir.join("postgres");
    let output = Command::new(&postgres)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("could not run {}: {error}", postgres.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let (version, major) = parse_version(&text).ok_or_else(|| {
        format!(
            "`postgres --version` printed {:?}, not a PostgreSQL version",
            text.trim()
        )
    })?;
    if major < OLDEST_MAJOR {
        return Err(format!(
            "PostgreSQL {version} is too old; migcheck needs {OLDEST_MAJOR} or newer"
        ));
    }
    known
        .get_or_insert_default()
        .insert(bindir.to_owned(), (version.clone(), major));
    Ok((version, major))
}

/// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> ("15.18", 15);
/// also "18.1", "17devel", "18beta1". For 9.x the major is 9 (rejected later).
pub(crate) fn parse_version(output: &str) -> Option<(String, u32)> {
    let rest = output.split("(PostgreSQL)").nth(1)?;
    let version = rest.split_whitespace().next()?;
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().ok()?;
    Some((version.to_owned(), major))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(output: &str, expected: Option<(&str, u32)>) {
        let got = parse_version(output);
        assert_eq!(
            got.as_ref().map(|(v, m)| (v.as_str(), *m)),
            expected,
            "parsing {output:?}"
        );
    }

    #[test]
    fn versions() {
        check(
            "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n",
            Some(("15.18", 15)),
        );
        check("postgres (PostgreSQL) 18.1\n", Some(("18.1", 18)));
        check("postgres (PostgreSQL) 17devel", Some(("17devel", 17)));
        check("postgres (PostgreSQL) 18beta1", Some(("18beta1", 18)));
        check("postgres (PostgreSQL) 9.6.24", Some(("9.6.24", 9)));
        check("postgres (PostgreSQL) 16.2 (Homebrew)", Some(("16.2", 16)));
        check("something else 15.1", None);
        check("", None);
    }

    /// `pg install` works in `<cache>/pg/.tmp-*`; the search must not take
    /// such a directory for an installation, however complete it looks.
    #[test]
    fn hidden_directories_are_not_installations() {
        let parent = std::env::temp_dir().join(format!("migcheck-binaries-{}", std::process::id()));
        for name in ["16.1.0-beta.1", ".tmp-16.2.0-beta.1-99", "15.3.0-beta.1"] {
            std::fs::create_dir_all(parent.join(name).join("bin")).expect("create test dirs");
        }
        let found = versioned_subdirs(&parent, "", "bin");
        std::fs::remove_dir_all(&parent).expect("clean up");
        assert_eq!(
            found,
            [
                parent.join("16.1.0-beta.1/bin"),
                parent.join("15.3.0-beta.1/bin")
            ]
        );
    }

    #[test]
    fn version_order() {
        assert!(version_key("16") > version_key("15.9"));
        assert!(version_key("10") > version_key("9.6"));
        assert!(version_key("16.4") > version_key("16.3"));
    }
}
