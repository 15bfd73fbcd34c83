//! Scenarios: YAML files naming a migration set, the legacy states a real
//! database may be in, what the application needs, and which findings are
//! expected. Paths inside a scenario are relative to its file.
//!
//! All YAML goes through [`from_yaml`], the one place that knows which YAML
//! crate is used (serde_yaml_ng: a maintained fork of the archived
//! serde_yaml with the same serde interface and line/column errors).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::finding::{Check, Finding, Kind};
use crate::migrations::{Format, MigrationsError, Script};
use crate::runner::{RunnerMode, TxMode};

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Path of the file relative to the directory it was found in, without
    /// `.yaml`: "err/jobs-before-chat-id". Unique in a run; names trials.
    pub id: String,
    /// The `name:` of the file, or the id.
    pub title: String,
    /// The YAML file, or `None` for `migcheck check`'s ad-hoc scenario.
    pub file: Option<PathBuf>,
    pub migrations: PathBuf,
    pub format: Format,
    pub runner: RunnerMode,
    pub tx: TxMode,
    pub legacy: Vec<LegacyState>,
    pub expect: Expectations,
    pub expect_findings: Vec<ExpectedFinding>,
    /// Objects an upgraded database may keep that a fresh one lacks
    /// ("table legacy_audit", "column jobs.old_flag", "index idx_old").
    pub may_keep: Vec<String>,
    /// Also upgrade from every earlier version of the set (default on).
    pub history: bool,
    /// Two groups of migrations merged from different branches, for the
    /// merge-order check.
    pub merge: Option<MergeGroups>,
    /// Lint findings this scenario accepts, each with its reason.
    pub ignore: Vec<Ignore>,
    /// Migrations whose down is known not to restore what up changed: the
    /// rollback check does not run their downs or compare their rows.
    pub irreversible: Vec<OptOut>,
    /// Migrations known not to be atomic: the faults check injects no
    /// fault into them.
    pub not_atomic: Vec<OptOut>,
    /// SQL run before a migration in the rollback check, so that its rows
    /// are there to lose (besides the rows migcheck generates).
    pub seed: Vec<Seed>,
}

/// A migration exempted from a check, with the reason every report lists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptOut {
    /// The migration's name as findings report it.
    pub migration: String,
    pub reason: String,
}

/// Rows a scenario puts in place before a migration (`seed:`).
#[derive(Debug, Clone)]
pub struct Seed {
    /// The version of the migration the rows are inserted before.
    pub before: String,
    pub sql: Script,
    pub origin: String,
}

/// A lint finding a scenario accepts (`ignore:`): every given field must
/// match, and the reason is mandatory, so every exception is explained.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    pub kind: Kind,
    #[serde(default)]
    pub migration: Option<String>,
    #[serde(default)]
    pub line: Option<usize>,
    pub reason: String,
}

impl Ignore {
    pub fn matches(&self, finding: &Finding) -> bool {
        self.kind == finding.kind
            && same(&self.migration, &finding.migration)
            && self.line.is_none_or(|l| Some(l) == finding.line)
    }
}

/// Migration names (as findings report them) of the two sides of a merge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeGroups {
    /// What the branch under review adds.
    pub branch: Vec<String>,
    /// What was merged to the main line while the branch was open. Empty:
    /// the other migrations that sort after the branch's first one.
    #[serde(default)]
    pub main: Vec<String>,
}

/// What a database looks like before the migrations run.
#[derive(Debug, Clone)]
pub struct LegacyState {
    pub name: String,
    /// The set applied up to and including this version first.
    pub upto: Option<String>,
    /// SQL run after that (or on an empty database).
    pub sql: Option<Script>,
    /// Where the SQL came from, for error messages.
    pub origin: String,
    /// Built from a lint finding to confirm it: skipped, not an error, when
    /// it cannot be built.
    pub predicted: bool,
}

/// What the application needs at the end (`expect:` or `--expect FILE`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    #[serde(default)]
    pub tables: Vec<String>,
    /// "table.column" or "table.column type", e.g. "jobs.chat_id bigint".
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub indexes: Vec<String>,
}

/// A finding a scenario pins: every field given must match.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    pub kind: Kind,
    #[serde(default)]
    pub check: Option<Check>,
    #[serde(default)]
    pub migration: Option<String>,
    #[serde(default)]
    pub line: Option<usize>,
    #[serde(default)]
    pub legacy_state: Option<String>,
}

impl ExpectedFinding {
    pub fn matches(&self, finding: &Finding) -> bool {
        self.kind == finding.kind
            && self.check.is_none_or(|c| Some(c) == finding.check)
            && same(&self.migration, &finding.migration)
            && self.line.is_none_or(|l| Some(l) == finding.line)
            && same(&self.legacy_state, &finding.legacy_state)
    }
}

fn same(wanted: &Option<String>, actual: &Option<String>) -> bool {
    wanted.is_none() || wanted == actual
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}", path.display())]
    Migrations {
        path: PathBuf,
        source: MigrationsError,
    },
    #[error("no scenario files (*.yaml) found in {}", path.display())]
    NoneFound { path: PathBuf },
}

/// Parses YAML into `T`, with errors that name the file, line and column.
pub fn from_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ScenarioError> {
    // The YAML parser takes time quadratic in the nesting of flow
    // collections (`[[[[...`): 100 000 levels would hang the run.
    if flow_depth(text) > MAX_FLOW_DEPTH {
        return Err(ScenarioError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "brackets nested more than {MAX_FLOW_DEPTH} levels deep; a scenario file never needs that, is this the right file?"
            ),
        });
    }
    serde_yaml_ng::from_str(text).map_err(|e| {
        let message = match e.location() {
            // The crate appends " at line L column C"; say it once, first.
            Some(at) => format!(
                "line {}, column {}: {}",
                at.line(),
                at.column(),
                e.to_string().split(" at line ").next().unwrap_or_default()
            ),
            None => e.to_string(),
        };
        ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        }
    })
}

const MAX_FLOW_DEPTH: usize = 128;

/// The deepest nesting of `[` and `{` outside quotes and comments (roughly:
/// enough to refuse pathological input before the parser sees it).
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut previous = '\n';
    for c in text.chars() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if previous.is_whitespace() => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    deepest
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| ScenarioError::Invalid {
        path: path.to_path_buf(),
        message: "not UTF-8 text".into(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    name: Option<String>,
    migrations: PathBuf,
    #[serde(default)]
    format: Format,
    #[serde(default)]
    runner: RunnerMode,
    #[serde(default)]
    tx: TxMode,
    #[serde(default)]
    legacy: Vec<LegacyFile>,
    #[serde(default)]
    expect: Expectations,
    #[serde(default)]
    expect_findings: Vec<ExpectedFinding>,
    #[serde(default)]
    may_keep: Vec<String>,
    #[serde(default = "yes")]
    history: bool,
    #[serde(default)]
    merge: Option<MergeGroups>,
    #[serde(default)]
    ignore: Vec<Ignore>,
    #[serde(default)]
    irreversible: Vec<OptOut>,
    #[serde(default)]
    not_atomic: Vec<OptOut>,
    #[serde(default)]
    seed: Vec<SeedFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    before: String,
    sql: String,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyFile {
    name: String,
    #[serde(default)]
    upto: Option<String>,
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
}

impl Scenario {
    /// The scenario of a bare migration directory (`check`, `lint`, `fuzz`,
    /// `bench`, `snapshot`): every default, named after the directory.
    pub fn ad_hoc(migrations: &Path, format: Format) -> Scenario {
        let id = migrations
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| migrations.display().to_string());
        Scenario {
            title: id.clone(),
            id,
            file: None,
            migrations: migrations.to_path_buf(),
            format,
            runner: RunnerMode::RerunAll,
            tx: TxMode::PerFile,
            legacy: Vec::new(),
            expect: Expectations::default(),
            expect_findings: Vec::new(),
            may_keep: Vec::new(),
            history: true,
            merge: None,
            ignore: Vec::new(),
            irreversible: Vec::new(),
            not_atomic: Vec::new(),
            seed: Vec::new(),
        }
    }

    /// Reads a scenario file; `id` names it in reports.
    pub fn load(path: &Path, id: String) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = from_yaml(path, &read(path)?)?;
        if let Some(ignore) = file.ignore.iter().find(|i| i.reason.trim().is_empty()) {
            return Err(ScenarioError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "ignore: the entry for `{}` has an empty reason; say why the finding is accepted",
                    ignore.kind
                ),
            });
        }
        if let Some(ignore) = file
            .ignore
            .iter()
            .find(|i| i.kind.check() != Some(Check::Lint))
        {
            return Err(ScenarioError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "ignore: `{}` is not a lint finding; only index-before-column, non-idempotent-statement and tx-incompatible can be ignored (pin other findings with expect_findings)",
                    ignore.kind
                ),
            });
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let opt_outs = [
            ("irreversible", &file.irreversible),
            ("not_atomic", &file.not_atomic),
        ];
        for (key, list) in opt_outs {
            if let Some(o) = list.iter().find(|o| o.reason.trim().is_empty()) {
                return Err(invalid(format!(
                    "{key}: the entry for `{}` has an empty reason; say why the migration is exempt",
                    o.migration
                )));
            }
        }
        let mut seed = Vec::new();
        for entry in file.seed {
            let origin = format!("{} (seed before `{}`)", path.display(), entry.before);
            seed.push(Seed {
                sql: parse_legacy(path, &origin, entry.sql)?,
                before: entry.before,
                origin,
            });
        }
        let mut legacy = Vec::new();
        for state in file.legacy {
            let (sql, origin) = match (state.sql, state.file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "legacy state `{}` has both `sql` and `file`; give one",
                        state.name
                    )));
                }
                (Some(sql), None) => {
                    let origin = format!("{} (legacy state `{}`)", path.display(), state.name);
                    (Some(parse_legacy(path, &origin, sql)?), origin)
                }
                (None, Some(file)) => {
                    let file = base.join(file);
                    let origin = file.display().to_string();
                    (Some(parse_legacy(path, &origin, read(&file)?)?), origin)
                }
                (None, None) if state.upto.is_some() => (None, path.display().to_string()),
                (None, None) => {
                    return Err(invalid(format!(
                        "legacy state `{}` needs `sql`, `file` or `upto`",
                        state.name
                    )));
                }
            };
            if legacy.iter().any(|l: &LegacyState| l.name == state.name) {
                return Err(invalid(format!(
                    "two legacy states are named `{}`",
                    state.name
                )));
            }
            legacy.push(LegacyState {
                name: state.name,
                upto: state.upto,
                sql,
                origin,
                predicted: false,
            });
        }
        Ok(Scenario {
            title: file.name.unwrap_or_else(|| id.clone()),
            id,
            file: Some(path.to_path_buf()),
            migrations: base.join(file.migrations),
            format: file.format,
            runner: file.runner,
            tx: file.tx,
            legacy,
            expect: file.expect,
            expect_findings: file.expect_findings,
            may_keep: file.may_keep,
            history: file.history,
            merge: file.merge,
            ignore: file.ignore,
            irreversible: file.irreversible,
            not_atomic: file.not_atomic,
            seed,
        })
    }

    /// Every scenario file under `path` (a file or a directory, walked
    /// recursively without following symlinks), sorted by id.
    pub fn discover(path: &Path) -> Result<Vec<Scenario>, ScenarioError> {
        if path.is_file() {
            let id = path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            return Ok(vec![Scenario::load(path, id)?]);
        }
        let mut files = Vec::new();
        walk(path, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(ScenarioError::NoneFound {
                path: path.to_path_buf(),
            });
        }
        files
            .iter()
            .map(|file| {
                let relative = file.strip_prefix(path).unwrap_or(file).with_extension("");
                Scenario::load(file, relative.to_string_lossy().into_owned())
            })
            .collect()
    }
}

fn parse_legacy(path: &Path, origin: &str, sql: String) -> Result<Script, ScenarioError> {
    Script::parse(Path::new(origin), sql).map_err(|source| ScenarioError::Migrations {
        path: path.to_path_buf(),
        source,
    })
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let read_dir = |source| ScenarioError::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let entry = entry.map_err(read_dir)?;
        let kind = entry.file_type().map_err(read_dir)?;
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, files)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str, expected: &str) {
        let dir = tempfile::Builder::new()
            .prefix("migcheck-test-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, yaml).expect("write");
        let actual = match Scenario::load(&path, "s".into()) {
            Ok(s) => format!(
                "ok {} legacy={} expect_findings={}",
                s.title,
                s.legacy.len(),
                s.expect_findings.len()
            ),
            Err(e) => crate::error::report(&e).replace(&dir.path().display().to_string(), "DIR"),
        };
        assert_eq!(actual, expected);
    }

    #[test]
    fn reads_scenarios_and_rejects_bad_ones() {
        check(
            "name: t\nmigrations: m\nlegacy:\n  - name: a\n    sql: CREATE TABLE a (id int);\n  - name: b\n    upto: '2'\nexpect_findings:\n  - kind: legacy-apply-failed\n    line: 3\n",
            "ok t legacy=2 expect_findings=1",
        );
        check(
            "migrations: m\nlegasy: []\n",
            "DIR/s.yaml: line 2, column 1: unknown field `legasy`, expected one of `name`, `migrations`, `format`, `runner`, `tx`, `legacy`, `expect`, `expect_findings`, `may_keep`, `history`, `merge`, `ignore`, `irreversible`, `not_atomic`, `seed`",
        );
        check(
            "migrations: m\nexpect_findings:\n  - kind: wrong-kind\n",
            "DIR/s.yaml: line 3, column 11: expect_findings[0].kind: unknown variant `wrong-kind`, expected one of `apply-failed`, `rerun-failed`, `rerun-changed`, `legacy-apply-failed`, `diverges-from-fresh`, `missing-expected`, `index-before-column`, `non-idempotent-statement`, `tx-incompatible`, `merge-order-dependent`, `down-failed`, `down-not-inverse`, `reup-failed`, `data-lost`, `partial-apply`, `invalid-leftover`, `expected-not-found`, `timeout`, `table-rewrite`, `long-exclusive-lock`",
        );
        check(
            "migrations: m\nlegacy:\n  - name: a\n    sql: CREATE TABLE (;\n",
            "DIR/s.yaml: DIR/s.yaml (legacy state `a`):1:14: does not parse as SQL: syntax error at or near \"(\"",
        );
        check(
            "migrations: m\nignore:\n  - kind: tx-incompatible\n",
            "DIR/s.yaml: line 3, column 5: ignore[0]: missing field `reason`",
        );
        check(
            "migrations: m\nignore:\n  - kind: tx-incompatible\n    reason: ' '\n",
            "DIR/s.yaml: ignore: the entry for `tx-incompatible` has an empty reason; say why the finding is accepted",
        );
        check(
            "migrations: m\nignore:\n  - kind: apply-failed\n    reason: x\n",
            "DIR/s.yaml: ignore: `apply-failed` is not a lint finding; only index-before-column, non-idempotent-statement and tx-incompatible can be ignored (pin other findings with expect_findings)",
        );
        check(
            "migrations: m\nirreversible:\n  - migration: 2_drop.sql\n    reason: ''\n",
            "DIR/s.yaml: irreversible: the entry for `2_drop.sql` has an empty reason; say why the migration is exempt",
        );
        check(
            "migrations: m\nnot_atomic:\n  - migration: 2_drop.sql\n",
            "DIR/s.yaml: line 3, column 5: not_atomic[0]: missing field `reason`",
        );
        check(
            "migrations: m\nlegacy:\n  - name: a\n",
            "DIR/s.yaml: legacy state `a` needs `sql`, `file` or `upto`",
        );
    }
}
