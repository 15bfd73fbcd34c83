//! Legacy states from the set's own past: real git repositories built in a
//! temp dir (commits that only add files, an edited migration, a renamed
//! one, a removed one, a shallow clone), checked with the binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_nothing_left, migcheck, private_tmp};
use serde_json::Value;

/// A git repository with `db/migrations`, committed with fixed dates so
/// that names and dates in reports do not change between runs.
struct Repo {
    root: PathBuf,
    commits: u32,
}

impl Repo {
    fn new(parent: &Path) -> Repo {
        let root = parent.join("repo");
        std::fs::create_dir_all(root.join("db/migrations")).expect("mkdir");
        let repo = Repo { root, commits: 0 };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let date = format!("2024-01-{:02}T12:00:00Z", self.commits + 1);
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args([
                "-c",
                "user.name=migcheck",
                "-c",
                "user.email=migcheck@example.com",
            ])
            .args(args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Writes (or, with `None`, removes) migration files and commits them.
    fn commit(&mut self, subject: &str, files: &[(&str, Option<&str>)]) -> String {
        for (name, content) in files {
            let path = self.root.join("db/migrations").join(name);
            match content {
                Some(content) => std::fs::write(&path, content).expect("write"),
                None => std::fs::remove_file(&path).expect("remove"),
            }
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", subject]);
        self.commits += 1;
        self.git(&["rev-parse", "--short=12", "HEAD"])
    }

    fn migrations(&self) -> PathBuf {
        self.root.join("db/migrations")
    }
}

const ORDERS: &str = "CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL,
    total_cents bigint NOT NULL
);
";

/// The incident: a currency added to the released CREATE TABLE IF NOT
/// EXISTS, with an index on it.
const ORDERS_WITH_CURRENCY: &str = "CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL,
    total_cents bigint NOT NULL,
    currency text NOT NULL DEFAULT 'EUR'
);
CREATE INDEX IF NOT EXISTS idx_orders_currency ON orders (currency);
";

/// The fix: the column is guaranteed before the index uses it.
const ORDERS_FIXED: &str = "CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL,
    total_cents bigint NOT NULL,
    currency text NOT NULL DEFAULT 'EUR'
);
ALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text NOT NULL DEFAULT 'EUR';
CREATE INDEX IF NOT EXISTS idx_orders_currency ON orders (currency);
";

/// The incident's repository: `file` released without currency (the
/// commit returned), then edited to add it with an index on it.
fn edited(parent: &Path, file: &str) -> (Repo, String) {
    let mut repo = Repo::new(parent);
    let v1 = repo.commit("orders", &[(file, Some(ORDERS))]);
    repo.commit(
        "orders have a currency",
        &[(file, Some(ORDERS_WITH_CURRENCY))],
    );
    (repo, v1)
}

/// Runs `migcheck check` on the repository's set with `args` and returns
/// the exit code and the JSON report's scenario (its notes) and findings,
/// one line each: `kind severity [legacy state] file:line`.
fn check(dir: &Path, args: &[&str]) -> (i32, Vec<String>, Vec<String>) {
    check_from(None, &dir.to_string_lossy(), args)
}

/// [`check`] of `--migrations migrations` as given, run from `cwd` when
/// given (else from the test's own temporary directory).
fn check_from(
    cwd: Option<&Path>,
    migrations: &str,
    args: &[&str],
) -> (i32, Vec<String>, Vec<String>) {
    let tmp = private_tmp();
    let mut all = vec!["check", "--migrations", migrations, "--format", "json"];
    all.extend_from_slice(args);
    let mut command = migcheck(tmp.path(), &all);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let output = command.output().expect("migcheck runs");
    let code = output.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let notes = report["scenarios"][0]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n.as_str().unwrap_or_default().to_owned())
        .collect();
    let findings = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{} {} [{}] {}:{}",
                f["kind"].as_str().unwrap_or_default(),
                f["severity"].as_str().unwrap_or_default(),
                f["legacy_state"].as_str().unwrap_or("-"),
                f["migration"].as_str().unwrap_or("-"),
                f["line"].as_u64().map_or("-".into(), |l| l.to_string()),
            )
        })
        .collect();
    drop(output);
    assert_nothing_left(tmp.path());
    (code, notes, findings)
}

#[test]
fn an_edited_migration_fails_on_the_databases_deployed_before_the_edit() {
    let tmp = private_tmp();
    let (mut repo, v1) = edited(tmp.path(), "001_orders.sql");
    let deployed = format!("deployed at {v1} (2024-01-01, orders)");

    // A plain check finds the commit in history.
    let (code, notes, findings) = check(&repo.migrations(), &["--checks", "converge"]);
    assert_eq!(code, 1, "{findings:?}");
    // Lint's assumption (a NOT NULL column with a default may be newer
    // than its table) predicts the same: a warning, as only git has
    // evidence.
    assert_eq!(
        findings,
        [
            format!("legacy-apply-failed error [{deployed}] 001_orders.sql:7"),
            "legacy-apply-failed warning [orders without currency (predicted by lint)] 001_orders.sql:7".to_owned(),
            "edited-after-release warning [-] 001_orders.sql:4".to_owned(),
        ]
    );
    assert!(
        notes.iter().any(|n| n.contains(&format!(
            "upgraded from 1 past version where it was not a prefix of today's: {deployed}"
        ))),
        "{notes:?}"
    );

    // The pull-request check deploys the base first, named after it.
    let (code, _, findings) = check(
        &repo.migrations(),
        &[
            "--checks",
            "converge",
            "--changed-since",
            "HEAD~1",
            "--git-history",
            "0",
        ],
    );
    assert_eq!(code, 1, "{findings:?}");
    assert_eq!(
        findings,
        [
            format!(
                "legacy-apply-failed error [deployed at HEAD~1 ({v1} (2024-01-01, orders))] 001_orders.sql:7"
            ),
            "legacy-apply-failed warning [orders without currency (predicted by lint)] 001_orders.sql:7".to_owned(),
        ]
    );

    // Turned off, only lint's assumption is left, and converge confirms it.
    let (_, _, findings) = check(
        &repo.migrations(),
        &["--git-history", "0", "--checks", "lint"],
    );
    assert_eq!(
        findings,
        ["index-before-column warning [-] 001_orders.sql:7"]
    );

    // The fix is clean; the edit itself stays a warning for rerun-all.
    repo.commit(
        "a currency for old orders too",
        &[("001_orders.sql", Some(ORDERS_FIXED))],
    );
    let (code, _, findings) = check(&repo.migrations(), &[]);
    assert_eq!(code, 0, "{findings:?}");
    assert_eq!(
        findings,
        ["edited-after-release warning [-] 001_orders.sql:7"]
    );
    drop(tmp);
}

#[test]
fn history_is_read_from_a_subdirectory_with_a_relative_path() {
    // git runs at the repository's root; the set's files were once handed
    // to it relative to the working directory, so from `db/` nothing was
    // read ("could not open 'migrations/001_orders.sql'").
    let tmp = private_tmp();
    let (repo, v1) = edited(tmp.path(), "001_orders.sql");
    let (code, notes, findings) = check_from(
        Some(&repo.root.join("db")),
        "migrations",
        &["--checks", "converge"],
    );
    assert_eq!(code, 1, "{findings:?}; notes: {notes:?}");
    let state = format!("[deployed at {v1} (2024-01-01, orders)]");
    assert!(
        findings.iter().any(|f| f.contains(&state)),
        "{findings:?}; notes: {notes:?}"
    );
    drop(tmp);
}

#[test]
fn commits_that_only_add_migrations_add_no_state() {
    let tmp = private_tmp();
    let mut repo = Repo::new(tmp.path());
    for i in 1..=5 {
        let name = format!("{i:03}_t{i}.sql");
        let sql = format!("CREATE TABLE IF NOT EXISTS t{i} (id int);\n");
        repo.commit(&format!("t{i}"), &[(&name, Some(&sql))]);
    }
    // A README in the directory changing does not make a past version.
    std::fs::write(repo.migrations().join("README"), "notes\n").expect("write");
    repo.commit("readme", &[]);
    let (code, notes, findings) = check(&repo.migrations(), &["--checks", "converge"]);
    assert_eq!((code, findings.len()), (0, 0), "{findings:?}");
    assert!(
        !notes.iter().any(|n| n.starts_with("git history")),
        "no past version and nothing skipped: {notes:?}"
    );
}

#[test]
fn renamed_and_removed_migrations_are_past_versions() {
    let tmp = private_tmp();
    let mut repo = Repo::new(tmp.path());
    let first = repo.commit(
        "accounts and a scratch table",
        &[
            (
                "001_a.sql",
                Some("CREATE TABLE IF NOT EXISTS accounts (id int);\n"),
            ),
            (
                "002_scratch.sql",
                Some("CREATE TABLE IF NOT EXISTS scratch (id int);\n"),
            ),
        ],
    );
    let renamed = repo.commit(
        "a name that says what it is",
        &[
            ("001_a.sql", None),
            (
                "001_accounts.sql",
                Some("CREATE TABLE IF NOT EXISTS accounts (id int);\n"),
            ),
        ],
    );
    repo.commit("no scratch table", &[("002_scratch.sql", None)]);
    let (code, notes, findings) = check(&repo.migrations(), &["--checks", "converge"]);
    // The scratch table those databases keep is what they lack in common
    // with a fresh install: a divergence from both versions.
    assert_eq!(code, 1, "{findings:?}");
    assert_eq!(
        findings,
        [
            format!(
                "diverges-from-fresh error [deployed at {renamed} (2024-01-02, a name that says what it is)] -:-"
            ),
            format!(
                "diverges-from-fresh error [deployed at {first} (2024-01-01, accounts and a scratch table)] -:-"
            ),
        ]
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("upgraded from 2 past versions")),
        "{notes:?}"
    );
}

#[test]
fn a_shallow_clone_and_a_directory_outside_git_say_what_was_skipped() {
    let tmp = private_tmp();
    let (repo, _) = edited(tmp.path(), "001_orders.sql");
    let shallow = tmp.path().join("shallow");
    let source = format!("file://{}", repo.root.display());
    let cloned = Command::new("git")
        .args(["clone", "-q", "--depth", "1", &source])
        .arg(&shallow)
        .output()
        .expect("git clone");
    assert!(
        cloned.status.success(),
        "{}",
        String::from_utf8_lossy(&cloned.stderr)
    );
    let (_, notes, _) = check(&shallow.join("db/migrations"), &["--checks", "converge"]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("the clone is shallow") && n.contains("fetch-depth: 0")),
        "{notes:?}"
    );

    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("001_orders.sql"), ORDERS).expect("write");
    let (code, notes, _) = check(&outside, &["--checks", "converge"]);
    assert_eq!(code, 0);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("is not in a git work tree")),
        "{notes:?}"
    );
}

#[test]
fn runners_that_keep_checksums_refuse_an_edited_migration() {
    let tmp = private_tmp();
    let (repo, v1) = edited(tmp.path(), "20240101000000_orders.sql");
    let (code, _, findings) = check(
        &repo.migrations(),
        &[
            "--migrations-format",
            "sqlx",
            "--runner",
            "tracked",
            "--checks",
            "converge",
        ],
    );
    assert_eq!(code, 1, "{findings:?}");
    // The tracked runner never runs the migration again: the databases
    // deployed before the edit lack the column and the index.
    assert_eq!(
        findings,
        [
            format!("diverges-from-fresh error [deployed at {v1} (2024-01-01, orders)] -:-"),
            // No state lint would predict: the tracked runner runs the
            // CREATE TABLE IF NOT EXISTS once, and git's past version is
            // the evidence, judged above.
            "edited-after-release error [-] 20240101000000_orders.sql:4".to_owned(),
        ]
    );
}

#[test]
fn an_edit_of_spaces_and_comments_matters_only_to_checksums() {
    let tmp = private_tmp();
    let mut repo = Repo::new(tmp.path());
    repo.commit("orders", &[("20240101000000_orders.sql", Some(ORDERS))]);
    let reformatted = format!(
        "-- The orders of customers.\n{}",
        ORDERS.replace("    ", "\t")
    );
    repo.commit("tabs", &[("20240101000000_orders.sql", Some(&reformatted))]);
    let (code, _, findings) = check(&repo.migrations(), &["--checks", "converge"]);
    assert_eq!((code, findings.len()), (0, 0), "{findings:?}");
    let (code, _, findings) = check(
        &repo.migrations(),
        &[
            "--migrations-format",
            "sqlx",
            "--runner",
            "tracked",
            "--checks",
            "converge",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        findings,
        ["edited-after-release error [-] 20240101000000_orders.sql:1"]
    );
}

#[test]
fn fuzz_starts_from_past_versions_and_emits_them_pinned_by_content() {
    let tmp = private_tmp();
    let (repo, v1) = edited(tmp.path(), "001_orders.sql");
    let emit = tmp.path().join("found");
    let (migrations, emit_arg) = (
        repo.migrations().to_string_lossy().into_owned(),
        emit.to_string_lossy().into_owned(),
    );
    let run = private_tmp();
    let fuzzed = migcheck(
        run.path(),
        &[
            "fuzz",
            "--migrations",
            &migrations,
            "--cases",
            "20",
            "--seed",
            "1",
            "--emit",
            &emit_arg,
        ],
    )
    .output()
    .expect("fuzz runs");
    assert_eq!(
        fuzzed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&fuzzed.stdout)
    );
    let file = emit.join(format!("fuzz-legacy-apply-failed-{v1}.yaml"));
    let text = std::fs::read_to_string(&file).expect("the emitted scenario");
    assert!(
        text.contains(&format!(
            "migrations: fuzz-legacy-apply-failed-{v1}-deployed"
        )),
        "{text}"
    );
    // The pinned version is the file as it was, history or not.
    let pinned = emit.join(format!(
        "fuzz-legacy-apply-failed-{v1}-deployed/001_orders.sql"
    ));
    assert_eq!(std::fs::read_to_string(pinned).expect("pinned"), ORDERS);
    let file = file.to_string_lossy().into_owned();
    let verified = migcheck(run.path(), &["verify", &file, "--format", "json"])
        .output()
        .expect("verify runs");
    assert_eq!(verified.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&verified.stdout).expect("JSON");
    let reproduced = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|f| {
            f["kind"] == "legacy-apply-failed"
                && f["legacy_state"] == format!("deployed at {v1} (2024-01-01, orders)").as_str()
                && f["line"] == 7
        });
    assert!(reproduced, "{report:#}");
    drop(fuzzed);
    assert_nothing_left(run.path());
}
