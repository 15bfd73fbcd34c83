//! The versions of a migration set deployed before today's, read from git.
//!
//! Databases in production hold the set as it was at some earlier commit.
//! Every commit on HEAD's first-parent line at which the set was *not* a
//! prefix of today's (a migration since edited, renamed or removed, or one
//! since inserted before it) gives a past version: that set applied as the
//! runner would, then today's on top, is a legacy state like any other.
//! Commits that only add migrations after the last one are prefixes, which
//! "deployed at <version>" covers already: they cost one record of `git
//! log` each, and nothing is read or parsed for them.
//!
//! Also what each migration looked like when it was last deployed with
//! other content (`Edit`): the runners that keep checksums refuse to start
//! on those databases, the others never apply the change there.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{GitError, lines, run};
use crate::migrations::{Format, Migration, MigrationSet};

/// A commit, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    /// Committer date, `YYYY-MM-DD`.
    pub date: String,
    pub subject: String,
}

/// How git prints a `Commit` for `Commit::parse`: sha, date, subject.
const COMMIT_FORMAT: &str = "%H%x00%cs%x00%s";

impl Commit {
    fn parse(line: &str) -> Commit {
        let mut fields = line.split('\0').map(str::to_owned);
        let mut next = || fields.next().unwrap_or_default();
        Commit {
            sha: next(),
            date: next(),
            subject: next(),
        }
    }

    pub fn short(&self) -> &str {
        &self.sha[..self.sha.len().min(12)]
    }

    /// `1a2b3c4d5e6f (2026-01-02, add currency)`.
    pub fn describe(&self) -> String {
        let mut subject: String = self.subject.chars().take(60).collect();
        if subject.len() < self.subject.len() {
            subject.push_str("...");
        }
        format!("{} ({}, {subject})", self.short(), self.date)
    }
}

/// The set as it was at a commit.
#[derive(Debug, Clone)]
pub struct PastVersion {
    /// The legacy state's name: "deployed at <commit>".
    pub name: String,
    pub commit: Commit,
    pub set: MigrationSet,
}

/// A migration whose up script differs from what was deployed before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Today's migration, as findings name it.
    pub migration: String,
    /// The first line that differs, 1-based, in today's file.
    pub line: usize,
    /// That line as it was, and as it is (empty past the end of a file).
    pub old: String,
    pub new: String,
    /// The lines that differ, as `- old` and `+ new` lines.
    pub hunk: String,
    /// Whether what runs changed: the statements, spaces and comments
    /// aside (a runner that keeps checksums refuses any edit).
    pub statements_changed: bool,
    /// The newest commit at which the set held the old content.
    pub deployed: Commit,
}

/// What git history gave, and what it could not.
#[derive(Debug, Clone, Default)]
pub struct Past {
    /// Past versions, newest first, each distinct, at most the limit.
    pub versions: Vec<PastVersion>,
    pub edits: Vec<Edit>,
    /// Commits of the set's history read.
    pub commits: usize,
    /// What was skipped and how to get it (no git, a shallow clone, a
    /// version that no longer loads).
    pub notes: Vec<String>,
}

/// Reads the past versions of `set` (at most `limit`, newest first) from
/// the git history of its directory: HEAD's first-parent line, or, given
/// the `--changed-since` revision `base`, the line up to its merge base
/// with HEAD (a branch's own commits were deployed nowhere the base was;
/// the merge-order check judges them). Not being in git, or a shallow
/// clone, is a note, not an error: history is evidence when there is some.
pub fn read(set: &MigrationSet, limit: usize, base: Option<&str>) -> Past {
    match History::open(&set.dir) {
        Ok(Some(history)) => history.past(set, limit, base).unwrap_or_else(|e| Past {
            notes: vec![format!("git history: not read: {e}")],
            ..Past::default()
        }),
        Ok(None) => Past {
            notes: vec![format!(
                "git history: {} is not in a git work tree, so no version of the set deployed before today's was checked",
                set.dir.display()
            )],
            ..Past::default()
        },
        Err(e) => Past {
            notes: vec![format!("git history: not read: {e}")],
            ..Past::default()
        },
    }
}

/// The set as it is at the merge base of HEAD and `rev`: what a database
/// deployed from `rev` holds. Named "deployed at <rev> (<commit>)".
pub fn at_merge_base(set: &MigrationSet, rev: &str) -> Result<PastVersion, GitError> {
    let failed = |message: String| GitError::Failed {
        args: format!("merge-base HEAD {rev}"),
        dir: set.dir.display().to_string(),
        message,
    };
    let Some(history) = History::open(&set.dir)? else {
        return Err(failed(format!(
            "{} is not in a git work tree",
            set.dir.display()
        )));
    };
    let base = lines(&history.root, &["merge-base", "HEAD", rev])?
        .into_iter()
        .next()
        .ok_or_else(|| failed("no merge base".into()))?;
    let commit = history.commit(&base)?;
    let files = history.tree(&base)?;
    let name = format!("deployed at {rev} ({})", commit.describe());
    let set = history.materialize(&files, set.format).map_err(failed)?;
    Ok(PastVersion { name, commit, set })
}

/// Files of the set's directory (paths relative to it) and their blobs.
type Files = BTreeMap<String, String>;

/// The repository around a set's directory.
struct History {
    root: PathBuf,
    /// The set's directory relative to `root`, with `/`; empty at the root.
    prefix: String,
    /// The directory itself.
    dir: PathBuf,
}

impl History {
    /// `None` when `dir` is not in a git work tree.
    fn open(dir: &Path) -> Result<Option<History>, GitError> {
        let root = match lines(dir, &["rev-parse", "--show-toplevel"]) {
            Ok(root) => root,
            Err(GitError::Failed { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(root) = root.into_iter().next().map(PathBuf::from) else {
            return Ok(None);
        };
        let absolute = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let relative = absolute(dir)
            .strip_prefix(absolute(&root))
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut prefix = relative.to_string_lossy().replace('\\', "/");
        if !prefix.is_empty() {
            prefix.push('/');
        }
        Ok(Some(History {
            root,
            prefix,
            dir: dir.to_path_buf(),
        }))
    }

    fn past(&self, set: &MigrationSet, limit: usize, base: Option<&str>) -> Result<Past, GitError> {
        let mut past = Past::default();
        if lines(&self.root, &["rev-parse", "--is-shallow-repository"])? == ["true"] {
            past.notes.push(
                "git history: the clone is shallow, so versions of the set deployed before its first commit were not checked; fetch the whole history (`fetch-depth: 0` for actions/checkout)"
                    .into(),
            );
        }
        let today = self.today()?;
        let ups: Vec<String> = set
            .migrations
            .iter()
            .map(|m| self.relative(&m.up.path))
            .collect();
        let tip = match base {
            Some(rev) => lines(&self.root, &["merge-base", "HEAD", rev])?
                .into_iter()
                .next()
                .unwrap_or_else(|| "HEAD".to_owned()),
            None => "HEAD".to_owned(),
        };
        let log = self.log(&tip)?;
        past.commits = log.len();

        // The set at each commit, replayed from the log; the commits where
        // it is not a prefix of today's, newest first.
        let mut files = Files::new();
        let mut candidates: Vec<(usize, Files)> = Vec::new();
        // Per up file: (commit index, blob) each time it changed.
        let mut changes: HashMap<&str, Vec<(usize, Option<String>)>> = HashMap::new();
        for (index, entry) in log.iter().enumerate() {
            for (path, blob) in &entry.changes {
                match blob {
                    Some(blob) => files.insert(path.clone(), blob.clone()),
                    None => files.remove(path),
                };
                if let Some(up) = ups.iter().find(|u| *u == path) {
                    changes
                        .entry(up.as_str())
                        .or_default()
                        .push((index, blob.clone()));
                }
            }
            if !is_prefix(&files, &today, &ups) {
                candidates.push((index, files.clone()));
            }
        }
        self.edits(set, &ups, &today, &log, &changes, &mut past)?;

        let mut seen: Vec<Vec<(String, String)>> = Vec::new();
        let mut read: Vec<Files> = Vec::new();
        for (index, files) in candidates.into_iter().rev() {
            // Commits that changed nothing a migration is read from (a
            // README, a down) since a version already read give that
            // version again: no need to read and parse it twice.
            let ups_of: Files = files
                .iter()
                .filter(|(path, _)| may_be_up(path))
                .map(|(p, b)| (p.clone(), b.clone()))
                .collect();
            if read.contains(&ups_of) {
                continue;
            }
            read.push(ups_of);
            if past.versions.len() >= limit {
                past.notes.push(format!(
                    "git history: only the newest {limit} past versions of the set were checked (--git-history, `git_history:`)"
                ));
                break;
            }
            let commit = log[index].commit.clone();
            let name = format!("deployed at {}", commit.describe());
            let old = match self.materialize(&files, set.format) {
                Ok(old) => old,
                Err(e) => {
                    past.notes.push(format!("git history: {name} skipped: {e}"));
                    continue;
                }
            };
            // What runs is the up scripts in order: a version that only
            // differs elsewhere (a README, a down) is today's prefix, and
            // two commits with the same ups are one state.
            let key: Vec<(String, String)> = old
                .migrations
                .iter()
                .map(|m| (m.name.clone(), m.up.sql.clone()))
                .collect();
            if loaded_prefix(&old.migrations, &set.migrations) || seen.contains(&key) {
                continue;
            }
            seen.push(key);
            past.versions.push(PastVersion {
                name,
                commit,
                set: old,
            });
        }
        Ok(past)
    }

    /// Today's files of the set's directory, as git would hash them.
    fn today(&self) -> Result<Files, GitError> {
        let mut paths = Vec::new();
        walk(&self.dir, &mut paths);
        // git runs at the repository's root, and `walk` gives paths as
        // `dir` was given: relative to the working directory.
        let list: String = paths
            .iter()
            .map(|p| {
                format!(
                    "{}\n",
                    std::path::absolute(p).unwrap_or(p.clone()).display()
                )
            })
            .collect();
        let blobs = run(
            &self.root,
            &["hash-object", "--stdin-paths"],
            Some(list.as_bytes()),
        )?;
        let blobs = String::from_utf8_lossy(&blobs);
        Ok(paths
            .iter()
            .zip(blobs.lines())
            .map(|(path, blob)| (self.relative(path), blob.to_owned()))
            .collect())
    }

    /// A path below the set's directory, relative to it, with `/`.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }

    /// The commits of `tip`'s first-parent line that touch the directory,
    /// oldest first, with what each changed in it.
    fn log(&self, tip: &str) -> Result<Vec<LogEntry>, GitError> {
        let dir = if self.prefix.is_empty() {
            ".".to_owned()
        } else {
            self.prefix.clone()
        };
        let out = match run(
            &self.root,
            &[
                "log",
                "--first-parent",
                "--reverse",
                "--root",
                "--raw",
                "--no-renames",
                "--no-abbrev",
                &format!("--format=%x01{COMMIT_FORMAT}"),
                tip,
                "--",
                &dir,
            ],
            None,
        ) {
            Ok(out) => out,
            // A repository without a commit has no history.
            Err(GitError::Failed { message, .. })
                if message.contains("does not have any commits") =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&out);
        let mut log = Vec::new();
        for record in text.split('\u{1}').filter(|r| !r.trim().is_empty()) {
            let mut lines = record.lines();
            let commit = Commit::parse(lines.next().unwrap_or_default());
            // `:100644 100644 <old> <new> M\t<path>`
            let changes = lines
                .filter_map(|line| {
                    let (meta, path) = line.strip_prefix(':')?.split_once('\t')?;
                    let path = path.strip_prefix(&self.prefix)?.to_owned();
                    let mut meta = meta.split(' ');
                    let new = meta.nth(3)?;
                    let status = meta.next()?;
                    let blob = (!status.starts_with('D')).then(|| new.to_owned());
                    Some((path, blob))
                })
                .collect();
            log.push(LogEntry { commit, changes });
        }
        Ok(log)
    }

    /// The files of the set's directory at `rev`.
    fn tree(&self, rev: &str) -> Result<Files, GitError> {
        let dir = if self.prefix.is_empty() {
            ".".to_owned()
        } else {
            self.prefix.clone()
        };
        let out = lines(
            &self.root,
            &["ls-tree", "-r", "--full-tree", rev, "--", &dir],
        )?;
        Ok(out
            .iter()
            .filter_map(|line| {
                // `100644 blob <sha>\t<path>`
                let (meta, path) = line.split_once('\t')?;
                let blob = meta.split(' ').nth(2)?;
                Some((path.strip_prefix(&self.prefix)?.to_owned(), blob.to_owned()))
            })
            .collect())
    }

    fn commit(&self, rev: &str) -> Result<Commit, GitError> {
        let format = format!("--format={COMMIT_FORMAT}");
        let out = lines(&self.root, &["show", "-s", &format, rev])?;
        Ok(Commit::parse(&out.into_iter().next().unwrap_or_default()))
    }

    /// The set made of `files` (written to a private temp directory, read
    /// in `format`, and removed), or why it cannot be read.
    fn materialize(&self, files: &Files, format: Format) -> Result<MigrationSet, String> {
        let dir = tempfile::Builder::new()
            .prefix("migcheck-past-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp directory: {e}"))?;
        // Downs run in no deploy: left out, a broken one does not keep the
        // version from loading.
        let files: Vec<(&String, &String)> = files.iter().filter(|(p, _)| !is_down(p)).collect();
        let blobs: Vec<&str> = files.iter().map(|(_, b)| b.as_str()).collect();
        let contents = self.cat(&blobs).map_err(|e| e.to_string())?;
        for ((path, _), content) in files.iter().zip(contents) {
            let file = dir.path().join(path);
            let written = match file.parent() {
                Some(parent) => std::fs::create_dir_all(parent),
                None => Ok(()),
            }
            .and_then(|()| std::fs::write(&file, content));
            written.map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        }
        let mut set = MigrationSet::load(dir.path(), format)
            .map_err(|e| format!("the set then does not load: {}", crate::error::report(&e)))?;
        // The set lives on in memory; its files' names stay those of the
        // directory it was read from today.
        set.dir = self.dir.clone();
        let rebase = |path: &Path| self.dir.join(path.strip_prefix(dir.path()).unwrap_or(path));
        for migration in &mut set.migrations {
            migration.path = rebase(&migration.path);
            migration.up.path = rebase(&migration.up.path);
        }
        Ok(set)
    }

    /// The contents of `blobs`, in order, from one `git cat-file --batch`.
    fn cat(&self, blobs: &[&str]) -> Result<Vec<Vec<u8>>, GitError> {
        let input: String = blobs.iter().map(|b| format!("{b}\n")).collect();
        let out = run(&self.root, &["cat-file", "--batch"], Some(input.as_bytes()))?;
        // `<sha> blob <size>\n<content>\n` each.
        let mut contents = Vec::new();
        let mut rest: &[u8] = &out;
        for _ in blobs {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let header = String::from_utf8_lossy(&rest[..end]).into_owned();
            let size: usize = header
                .split(' ')
                .nth(2)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| GitError::Failed {
                    args: "cat-file --batch".into(),
                    dir: self.root.display().to_string(),
                    message: format!("unexpected output `{header}`"),
                })?;
            let start = (end + 1).min(rest.len());
            let stop = (start + size).min(rest.len());
            contents.push(rest[start..stop].to_vec());
            rest = &rest[(stop + 1).min(rest.len())..];
        }
        Ok(contents)
    }

    /// For each migration whose up script was deployed with other content,
    /// the newest such deployment and the first line that differs.
    fn edits(
        &self,
        set: &MigrationSet,
        ups: &[String],
        today: &Files,
        log: &[LogEntry],
        changes: &HashMap<&str, Vec<(usize, Option<String>)>>,
        past: &mut Past,
    ) -> Result<(), GitError> {
        for (migration, up) in set.migrations.iter().zip(ups) {
            let Some(now) = today.get(up) else {
                continue;
            };
            let Some(history) = changes.get(up.as_str()) else {
                continue;
            };
            // The newest content other than today's, and the last commit
            // at which it was the set's: the commit before the next change,
            // or HEAD when today's differs from HEAD's.
            let mut deployed = None;
            for (i, (index, blob)) in history.iter().enumerate().rev() {
                match blob {
                    Some(blob) if blob != now => {
                        let last = history
                            .get(i + 1)
                            .map_or(log.len() - 1, |(next, _)| next - 1);
                        deployed = Some((blob.clone(), last.max(*index)));
                        break;
                    }
                    _ => {}
                }
            }
            let Some((blob, at)) = deployed else {
                continue;
            };
            let old = self.cat(&[&blob])?.remove(0);
            let old = String::from_utf8_lossy(&old);
            let (line, before, after) = first_difference(&old, &migration.up.sql);
            past.edits.push(Edit {
                migration: migration.name.clone(),
                line,
                old: before,
                new: after,
                hunk: hunk(&old, &migration.up.sql),
                statements_changed: statements(&old) != statements(&migration.up.sql),
                deployed: log[at].commit.clone(),
            });
        }
        Ok(())
    }
}

struct LogEntry {
    commit: Commit,
    /// Paths relative to the set's directory; `None`: deleted.
    changes: Vec<(String, Option<String>)>,
}

/// Whether the set of `files` is, as far as the files say, a prefix of
/// today's: no up file differs from today's or is gone since, and the
/// migrations it has are today's first ones. A file today's set no longer
/// has counts as a difference (it may have been a migration); whether it
/// was is settled once the version is loaded.
fn is_prefix(files: &Files, today: &Files, ups: &[String]) -> bool {
    let changed = files.iter().any(|(path, blob)| match today.get(path) {
        Some(now) => blob != now && ups.contains(path),
        None => may_be_up(path),
    });
    if changed {
        return false;
    }
    let present: Vec<bool> = ups.iter().map(|up| files.contains_key(up)).collect();
    let k = present.iter().take_while(|p| **p).count();
    present[k..].iter().all(|p| !p)
}

/// Whether a file no longer in the directory may have been an up
/// migration: SQL, or diesel's and Flyway's settings of one, and not a
/// down script (a down runs in no deploy).
fn may_be_up(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let sql = name.ends_with(".sql") || name == "metadata.toml" || name.ends_with(".sql.conf");
    sql && !is_down(path)
}

/// A down script of a layout that keeps downs in files of their own.
fn is_down(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == "down.sql"
        || name.ends_with(".down.sql")
        || (name.starts_with('U') && name.contains("__"))
}

/// Whether two versions of a set run the same up scripts.
pub fn same_ups(a: &MigrationSet, b: &MigrationSet) -> bool {
    a.migrations.len() == b.migrations.len() && loaded_prefix(&a.migrations, &b.migrations)
}

/// Whether `old` runs the first migrations of `today`, unchanged.
fn loaded_prefix(old: &[Migration], today: &[Migration]) -> bool {
    old.len() <= today.len()
        && old.iter().zip(today).all(|(a, b)| {
            a.name == b.name && a.up.sql == b.up.sql && a.transaction == b.transaction
        })
}

/// The first line (1-based) where `old` and `new` differ, and that line
/// in each.
fn first_difference(old: &str, new: &str) -> (usize, String, String) {
    let (mut a, mut b) = (old.lines(), new.lines());
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (x, y) => {
                return (
                    line,
                    x.unwrap_or_default().to_owned(),
                    y.unwrap_or_default().to_owned(),
                );
            }
        }
    }
}

/// A script as the parser sees it, printed back: whitespace and comments
/// gone, everything that runs kept. `None` when it does not parse (then
/// any edit counts).
fn statements(sql: &str) -> Option<String> {
    pg_query::parse(sql).ok()?.deparse().ok()
}

/// The lines between the common start and the common end of `old` and
/// `new`: `- ` the old ones, `+ ` the new ones, at most 12 of each.
fn hunk(old: &str, new: &str) -> String {
    const MAX: usize = 12;
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let start = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let end = a[start..]
        .iter()
        .rev()
        .zip(b[start..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = String::new();
    for (sign, lines) in [
        ("-", &a[start..a.len() - end]),
        ("+", &b[start..b.len() - end]),
    ] {
        for line in lines.iter().take(MAX) {
            out.push_str(&format!("{sign} {line}\n"));
        }
        if lines.len() > MAX {
            out.push_str(&format!("{sign} ... ({} more lines)\n", lines.len() - MAX));
        }
    }
    out
}

/// Every regular file below `dir`, without following symlinks.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&entry.path(), files);
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> Files {
        entries
            .iter()
            .map(|(p, b)| (p.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_version_is_a_prefix_when_it_only_lacks_later_migrations() {
        let ups: Vec<String> = ["1.sql", "2.sql", "3.sql"].map(String::from).to_vec();
        let today = files(&[
            ("1.sql", "a"),
            ("2.sql", "b"),
            ("3.sql", "c"),
            ("README", "r"),
        ]);
        let check = |past: &[(&str, &str)]| is_prefix(&files(past), &today, &ups);
        assert!(check(&[]));
        assert!(check(&[("1.sql", "a"), ("2.sql", "b")]));
        assert!(
            check(&[("1.sql", "a"), ("README", "old")]),
            "only a README differs"
        );
        assert!(
            !check(&[("1.sql", "a"), ("2.sql", "old")]),
            "2.sql was edited"
        );
        assert!(
            !check(&[("1.sql", "a"), ("3.sql", "c")]),
            "2.sql was inserted since"
        );
        assert!(
            !check(&[("1.sql", "a"), ("0.sql", "z")]),
            "0.sql was removed or renamed"
        );
        assert!(
            check(&[("1.sql", "a"), ("notes.txt", "z")]),
            "not a migration"
        );
        assert!(
            check(&[("1.sql", "a"), ("0.down.sql", "z")]),
            "a down runs in no deploy"
        );
    }

    #[test]
    fn a_hunk_shows_what_changed_between_what_stayed() {
        assert_eq!(hunk("a\nb\nc\n", "a\nB\nx\nc\n"), "- b\n+ B\n+ x\n");
        assert_eq!(hunk("a\n", "a\nb\n"), "+ b\n");
    }

    #[test]
    fn the_first_difference_is_a_line_of_today() {
        assert_eq!(
            first_difference("a\nb\nc\n", "a\nB\nc\n"),
            (2, "b".into(), "B".into())
        );
        assert_eq!(
            first_difference("a\n", "a\nb\n"),
            (2, "".into(), "b".into())
        );
    }
}
