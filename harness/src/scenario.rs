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
use crate::migrations::{Format, MigrationSet, MigrationsError, Script};
use crate::runner::{RunnerMode, TxMode};
use crate::schema::ObjectKind;

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
    /// The runner mode in effect; see `runner_from`.
    pub runner: RunnerMode,
    /// Whether `runner` was asked for or follows the set's format.
    pub runner_from: RunnerFrom,
    pub tx: TxMode,
    pub legacy: Vec<LegacyState>,
    pub expect: Expectations,
    pub expect_findings: Vec<ExpectedFinding>,
    /// Objects an upgraded database may keep that a fresh one lacks.
    pub may_keep: Vec<MayKeep>,
    /// Also upgrade from every earlier version of the set (default on).
    pub history: bool,
    /// Also upgrade from at most this many past versions of the set found
    /// in git (newest first; 0: none).
    pub git_history: usize,
    /// `--changed-since REV`: the set as it is at the merge base with REV
    /// is deployed first, and today's on top.
    pub base: Option<String>,
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
    /// How `fuzz` rates what only its own invented drift shows.
    pub fuzz: FuzzEvidence,
    /// The migrations the `locks` check observes.
    pub locks: LocksScope,
    /// `--project-rows N`: lock findings estimate how long their lock
    /// would be held at N rows, from a growth measured at two sizes.
    pub project_rows: Option<u64>,
    /// The checks this scenario runs at most (`checks:`, default all): a
    /// command runs those it is asked for that are also here.
    pub checks: Vec<Check>,
    /// `superuser: true` or `--superuser`: the migrations, seeds and
    /// legacy SQL run as the server's superuser, not as the non-superuser
    /// role that owns the sandbox database.
    pub superuser: bool,
}

/// Where a scenario's runner mode comes from, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerFrom {
    /// Not asked for, and the set not read yet: `follow_format` decides.
    Unresolved,
    /// `--runner` or the scenario's `runner:`.
    Given,
    /// The default of the set's format: its tool's runner.
    Format(Format),
}

/// Which migrations the `locks` check observes (`locks:`, `--locks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LocksScope {
    /// Those a branch adds or changes (`--changed-since`), else the last:
    /// what the next deploy runs.
    #[default]
    UnderTest,
    /// Every migration of the set: an audit of its whole history.
    All,
    /// These migrations, by name as findings report them, or version.
    Named(Vec<String>),
}

/// `locks:` as written: `all`, or a list of migrations.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "`all` or a list of migrations (names or versions)"
)]
enum LocksFile {
    Word(String),
    Names(Vec<String>),
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

/// A lint or locks finding a scenario accepts (`ignore:`): every given
/// field must match, and the reason is mandatory, so every exception is
/// explained.
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
    /// Or an earlier version of the set applied first, as the runner
    /// would: the set as it was deployed.
    pub deployed: Option<Deployed>,
    /// SQL run after that (or on an empty database).
    pub sql: Option<Script>,
    /// Where the SQL came from, for error messages.
    pub origin: String,
    pub source: Source,
    /// What the state assumes and nothing shows (lint's prediction about a
    /// NOT NULL column with a default): findings from it are warnings
    /// that say so.
    pub premise: Option<String>,
}

/// Past versions of a set from git checked by default (`git_history:`).
pub const GIT_HISTORY: usize = 50;

/// An earlier version of the set: a directory holding it (`migrations:`
/// of a legacy state, relative to the scenario), read by the pipeline in
/// the set's format.
#[derive(Debug, Clone)]
pub enum Deployed {
    Dir(PathBuf),
    Set(Box<MigrationSet>),
}

/// Where a legacy state comes from, which decides what a state that cannot
/// be built means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The scenario or `--legacy`: it must build, else the run stops.
    Written,
    /// Lint's prediction, built to confirm a finding: when it cannot be
    /// built, the finding says "not reproduced".
    Predicted,
    /// A past version of the set from git: when it no longer applies (on
    /// this server, with today's parser), a note says so.
    Git,
}

/// An object that databases upgraded from a legacy state may keep and a
/// fresh install lacks (`may_keep:`), written `<kind> <name>`: "table
/// legacy_audit" (with its columns, constraints, indexes, triggers and
/// owned sequences), "column jobs.old_flag", "index idx_old". Read when
/// the scenario is, so a typo is an error with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MayKeep {
    pub kind: ObjectKind,
    /// Schema-qualified, as snapshots name objects: `public.legacy_audit`,
    /// `public.jobs.old_flag`.
    pub name: String,
}

impl<'de> Deserialize<'de> for MayKeep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Parse(MayKeep::parse))
    }
}

impl MayKeep {
    fn parse(text: &str) -> Result<MayKeep, String> {
        let text = text.trim();
        // Kinds of two words ("materialized view") first.
        let mut kinds = ObjectKind::ALL;
        kinds.sort_by_key(|k| std::cmp::Reverse(k.as_str().len()));
        let parsed = kinds.into_iter().find_map(|kind| {
            let name = text.strip_prefix(kind.as_str())?.strip_prefix(' ')?.trim();
            (!name.is_empty() && !name.contains(char::is_whitespace)).then_some((kind, name))
        });
        let Some((kind, name)) = parsed else {
            let kinds: Vec<&str> = ObjectKind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(format!(
                "`{text}` is not `<kind> <name>`, e.g. `table legacy_audit` or `column jobs.old_flag`; kinds: {}",
                kinds.join(", ")
            ));
        };
        // A column is table.column, schema-qualified when it has two dots.
        let qualified = match kind {
            ObjectKind::Column if name.matches('.').count() > 1 => name.to_owned(),
            ObjectKind::Column => format!("public.{name}"),
            _ if name.contains('.') => name.to_owned(),
            _ => format!("public.{name}"),
        };
        Ok(MayKeep {
            kind,
            name: qualified,
        })
    }
}

/// What the application needs at the end (`expect:` or `--expect FILE`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub columns: Vec<ExpectedColumn>,
    #[serde(default)]
    pub indexes: Vec<String>,
}

impl Expectations {
    /// Nothing is expected: the `expect` check has nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.columns.is_empty() && self.indexes.is_empty()
    }
}

/// A column the application needs: "table.column" or "table.column
/// type", e.g. "jobs.chat_id bigint".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedColumn {
    pub table: String,
    pub column: String,
    /// As a person writes it; compared with the catalog's spelling.
    pub type_name: Option<String>,
}

impl<'de> Deserialize<'de> for ExpectedColumn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Parse(ExpectedColumn::parse))
    }
}

impl ExpectedColumn {
    fn parse(text: &str) -> Result<ExpectedColumn, String> {
        let spec = text.trim();
        let (path, type_name) = match spec.split_once(char::is_whitespace) {
            Some((path, ty)) => (path, Some(ty.trim().to_owned())),
            None => (spec, None),
        };
        match path.rsplit_once('.') {
            Some((table, column)) if !table.is_empty() && !column.is_empty() => {
                Ok(ExpectedColumn {
                    table: table.to_owned(),
                    column: column.to_owned(),
                    type_name,
                })
            }
            _ => Err(format!(
                "expected column `{spec}` is not written as table.column, e.g. `jobs.chat_id` or `jobs.chat_id bigint`"
            )),
        }
    }
}

impl std::fmt::Display for ExpectedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.table, self.column)?;
        match &self.type_name {
            Some(ty) => write!(f, " {ty}"),
            None => Ok(()),
        }
    }
}

/// Reads a value written as a string with `parse`, so that the YAML
/// parser places a bad one at its own line and column.
struct Parse<T>(fn(&str) -> Result<T, String>);

impl<T> serde::de::Visitor<'_> for Parse<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }
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
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    name: Option<String>,
    migrations: PathBuf,
    #[serde(default)]
    format: Format,
    #[serde(default)]
    runner: Option<RunnerMode>,
    #[serde(default)]
    tx: TxMode,
    #[serde(default)]
    legacy: Vec<LegacyFile>,
    #[serde(default)]
    expect: Expectations,
    #[serde(default)]
    expect_findings: Vec<ExpectedFinding>,
    #[serde(default)]
    may_keep: Vec<MayKeep>,
    #[serde(default = "yes")]
    history: bool,
    #[serde(default)]
    git_history: Option<usize>,
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
    #[serde(default)]
    locks: Option<LocksFile>,
    #[serde(default)]
    checks: Option<Vec<Check>>,
    #[serde(default)]
    fuzz: FuzzEvidence,
    #[serde(default)]
    superuser: bool,
}

/// `fuzz:`: a failure that only a state the fuzzer invented shows (a
/// change by hand, rows of arbitrary content) is a warning stating its
/// premise (`warn`, the default), or an error (`strict`: this set's
/// databases may have been changed by hand and must still upgrade).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FuzzEvidence {
    #[default]
    Warn,
    Strict,
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
    migrations: Option<PathBuf>,
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
            runner_from: RunnerFrom::Unresolved,
            tx: TxMode::PerFile,
            legacy: Vec::new(),
            expect: Expectations::default(),
            expect_findings: Vec::new(),
            may_keep: Vec::new(),
            history: true,
            git_history: GIT_HISTORY,
            base: None,
            merge: None,
            ignore: Vec::new(),
            irreversible: Vec::new(),
            not_atomic: Vec::new(),
            seed: Vec::new(),
            locks: LocksScope::UnderTest,
            project_rows: None,
            fuzz: FuzzEvidence::Warn,
            checks: Check::known(),
            superuser: false,
        }
    }

    /// Sets the runner the application was asked to use (`--runner`).
    pub fn run_with(&mut self, runner: RunnerMode) {
        self.runner = runner;
        self.runner_from = RunnerFrom::Given;
    }

    /// Unless a runner was asked for, the one the set's format implies:
    /// the migration tools' runners record what ran in a version table
    /// (`tracked`), a plain directory is assumed to be re-run whole at
    /// every start (`rerun-all`). Called once the set is read.
    pub fn follow_format(&mut self, format: Format) {
        if self.runner_from == RunnerFrom::Unresolved {
            self.runner = RunnerMode::of_format(format);
            self.runner_from = RunnerFrom::Format(format);
        }
    }

    /// The application's runner for `set`, as this scenario describes it:
    /// its mode and transactions, and the version table of the set's
    /// format.
    pub fn runner_for(&self, set: &crate::migrations::MigrationSet) -> crate::runner::Runner {
        crate::runner::Runner {
            mode: self.runner,
            tx: self.tx,
            table: crate::version_table::VersionTable::of(set.format),
        }
    }

    /// The runner in effect and why, as the report says it.
    pub fn runner_reason(&self) -> String {
        let mode = self.runner.name();
        match self.runner_from {
            RunnerFrom::Given => format!("{mode}, as asked"),
            RunnerFrom::Format(Format::Plain) => format!(
                "{mode}: a plain directory is taken to be re-run whole at every start (--runner tracked if a version table records what ran)"
            ),
            RunnerFrom::Format(format) => format!(
                "{mode}: {format}'s runner records each migration it ran and never runs it again (--runner rerun-all if the application re-runs files)"
            ),
            RunnerFrom::Unresolved => mode.to_string(),
        }
    }

    /// Reads a scenario file; `id` names it in reports.
    pub fn load(path: &Path, id: String) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = from_yaml(path, &crate::input::read_text(path)?)?;
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
            .find(|i| !crate::suppress::SUPPRESSIBLE.contains(&i.kind))
        {
            return Err(ScenarioError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "ignore: `{}` is not a lint or locks finding; only those can be ignored (pin other findings with expect_findings)",
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
        let locks = match file.locks {
            None => LocksScope::UnderTest,
            Some(LocksFile::Word(word)) if word == "all" => LocksScope::All,
            Some(LocksFile::Word(word)) => {
                return Err(invalid(format!(
                    "locks: `{word}` is not `all`; give `all` or a list of migrations, like `locks: [003_add_index.sql]`"
                )));
            }
            Some(LocksFile::Names(names)) if names.is_empty() => {
                return Err(invalid(
                    "locks: the list is empty; name the migrations under test, or leave `locks:` out for the last one".into(),
                ));
            }
            Some(LocksFile::Names(names)) => LocksScope::Named(names),
        };
        let checks = match file.checks {
            None => Check::known(),
            Some(checks) if checks.is_empty() => {
                return Err(invalid(
                    "checks: the list is empty; name the checks to run, or leave `checks:` out for all".into(),
                ));
            }
            Some(checks) => checks,
        };
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
                    (
                        Some(parse_legacy(
                            path,
                            &origin,
                            crate::input::read_text(&file)?,
                        )?),
                        origin,
                    )
                }
                (None, None) if state.upto.is_some() || state.migrations.is_some() => {
                    (None, path.display().to_string())
                }
                (None, None) => {
                    return Err(invalid(format!(
                        "legacy state `{}` needs `sql`, `file`, `upto` or `migrations`",
                        state.name
                    )));
                }
            };
            if state.upto.is_some() && state.migrations.is_some() {
                return Err(invalid(format!(
                    "legacy state `{}` has both `upto` and `migrations`; give one: the set up to a version, or an earlier version of the set",
                    state.name
                )));
            }
            if legacy.iter().any(|l: &LegacyState| l.name == state.name) {
                return Err(invalid(format!(
                    "two legacy states are named `{}`",
                    state.name
                )));
            }
            legacy.push(LegacyState {
                name: state.name,
                upto: state.upto,
                deployed: state.migrations.map(|dir| Deployed::Dir(base.join(dir))),
                sql,
                origin,
                source: Source::Written,
                premise: None,
            });
        }
        Ok(Scenario {
            title: file.name.unwrap_or_else(|| id.clone()),
            id,
            file: Some(path.to_path_buf()),
            migrations: base.join(file.migrations),
            format: file.format,
            runner: file.runner.unwrap_or_default(),
            runner_from: match file.runner {
                Some(_) => RunnerFrom::Given,
                None => RunnerFrom::Unresolved,
            },
            tx: file.tx,
            legacy,
            expect: file.expect,
            expect_findings: file.expect_findings,
            may_keep: file.may_keep,
            history: file.history,
            git_history: file.git_history.unwrap_or(GIT_HISTORY),
            base: None,
            merge: file.merge,
            ignore: file.ignore,
            irreversible: file.irreversible,
            not_atomic: file.not_atomic,
            seed,
            locks,
            project_rows: None,
            checks,
            fuzz: file.fuzz,
            superuser: file.superuser,
        })
    }

    /// Every scenario file under `path` (a file or a directory, walked
    /// recursively without following symlinks), sorted by id.
    pub fn discover(path: &Path) -> Result<Vec<Scenario>, ScenarioError> {
        Scenario::discover_all(&[path.to_path_buf()])
    }

    /// Every scenario file under `paths`, each argument's sorted by id. A
    /// scenario's id is its path without `.yaml`, relative to the
    /// directory it was found in (`err/jobs-before-chat-id` under
    /// `scenarios`; a file given on its own is its name): with several
    /// arguments, relative to the deepest directory that holds them all, so
    /// that `ok/x.yaml` and `err/x.yaml` stay two scenarios in every report.
    /// A file reached through two arguments runs once.
    pub fn discover_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, ScenarioError> {
        let mut found: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
        for path in paths {
            // Anything but a directory is read as a file: a FIFO or a
            // device is then refused by `input`, with its reason.
            if !path.is_dir() {
                let root = path.parent().unwrap_or(Path::new(""));
                found.push((root.to_path_buf(), vec![path.clone()]));
                continue;
            }
            let mut files = Vec::new();
            walk(path, &mut files)?;
            files.sort();
            if files.is_empty() {
                return Err(ScenarioError::NoneFound { path: path.clone() });
            }
            found.push((path.clone(), files));
        }
        let roots: Vec<PathBuf> = found.iter().map(|(root, _)| absolute(root)).collect();
        let base = common_ancestor(&roots);
        let mut scenarios: Vec<Scenario> = Vec::new();
        for file in found.into_iter().flat_map(|(_, files)| files) {
            let full = absolute(&file);
            let relative = full.strip_prefix(&base).unwrap_or(&full).with_extension("");
            let id = relative.to_string_lossy().into_owned();
            let seen = scenarios.iter().find(|s| s.id == id);
            if let Some(first) = seen.and_then(|s| s.file.as_deref()) {
                if same_file(first, &file) {
                    continue;
                }
                return Err(ScenarioError::Invalid {
                    path: file.clone(),
                    message: format!(
                        "has the id `{id}` of {} too; rename one of them (ids leave out .yaml and .yml)",
                        first.display()
                    ),
                });
            }
            scenarios.push(Scenario::load(&file, id)?);
        }
        Ok(scenarios)
    }
}

/// `path` from the root, `.` and `..` resolved by their names (ids are
/// names: no symbolic link is followed).
fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let joined = match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir().unwrap_or_default().join(path),
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The deepest directory that holds every one of `dirs`.
fn common_ancestor(dirs: &[PathBuf]) -> PathBuf {
    let Some((first, rest)) = dirs.split_first() else {
        return PathBuf::new();
    };
    let mut base = first.clone();
    for dir in rest {
        while !dir.starts_with(&base) {
            if !base.pop() {
                break;
            }
        }
    }
    base
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
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
    fn fuzz_strict_opts_in_to_errors_for_invented_drift() {
        let load = |yaml: &str| {
            let dir = tempfile::Builder::new()
                .prefix("migcheck-test-")
                .tempdir()
                .expect("temp dir");
            let path = dir.path().join("s.yaml");
            std::fs::write(&path, yaml).expect("write");
            Scenario::load(&path, "s".into()).map(|s| s.fuzz)
        };
        assert_eq!(load("migrations: m\n").ok(), Some(FuzzEvidence::Warn));
        assert_eq!(
            load("migrations: m\nfuzz: strict\n").ok(),
            Some(FuzzEvidence::Strict)
        );
        let error = load("migrations: m\nfuzz: lenient\n").expect_err("an unknown value");
        assert!(
            crate::error::report(&error).contains("unknown variant `lenient`"),
            "{}",
            crate::error::report(&error)
        );
    }

    #[test]
    fn reads_scenarios_and_rejects_bad_ones() {
        check(
            "name: t\nmigrations: m\nlegacy:\n  - name: a\n    sql: CREATE TABLE a (id int);\n  - name: b\n    upto: '2'\nexpect_findings:\n  - kind: legacy-apply-failed\n    line: 3\n",
            "ok t legacy=2 expect_findings=1",
        );
        check(
            "migrations: m\nlegasy: []\n",
            "DIR/s.yaml: line 2, column 1: unknown field `legasy`, expected one of `name`, `migrations`, `format`, `runner`, `tx`, `legacy`, `expect`, `expect_findings`, `may_keep`, `history`, `git_history`, `merge`, `ignore`, `irreversible`, `not_atomic`, `seed`, `locks`, `checks`, `fuzz`, `superuser`",
        );
        check(
            "migrations: m\nexpect_findings:\n  - kind: wrong-kind\n",
            "DIR/s.yaml: line 3, column 11: expect_findings[0].kind: unknown variant `wrong-kind`, expected one of `apply-failed`, `rerun-failed`, `rerun-changed`, `legacy-apply-failed`, `diverges-from-fresh`, `missing-expected`, `index-before-column`, `non-idempotent-statement`, `tx-incompatible`, `merge-order-dependent`, `down-failed`, `down-not-inverse`, `reup-failed`, `data-lost`, `partial-apply`, `invalid-leftover`, `expected-not-found`, `timeout`, `table-rewrite`, `long-exclusive-lock`, `blocking-index-build`, `blocking-constraint-index`, `blocking-validation`, `missing-lock-timeout`, `unindexed-foreign-key`, `edited-after-release`",
        );
        // SQL the parser rejects is the server's to judge, when the state
        // is set up.
        check(
            "name: t\nmigrations: m\nlegacy:\n  - name: a\n    sql: ALTER TABLE t ADD CONSTRAINT c NOT NULL a;\n",
            "ok t legacy=1 expect_findings=0",
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
            "DIR/s.yaml: ignore: `apply-failed` is not a lint or locks finding; only those can be ignored (pin other findings with expect_findings)",
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
            "DIR/s.yaml: legacy state `a` needs `sql`, `file`, `upto` or `migrations`",
        );
        check(
            "migrations: m\nmay_keep: [materialized view report_cache, column app.jobs.flag]\n",
            "ok s legacy=0 expect_findings=0",
        );
        check(
            "migrations: m\nmay_keep:\n  - table legacy_audit\n  - tabel legacy\n",
            "DIR/s.yaml: line 4, column 5: may_keep[1]: `tabel legacy` is not `<kind> <name>`, e.g. `table legacy_audit` or `column jobs.old_flag`; kinds: schema, extension, table, column, constraint, index, sequence, view, materialized view, enum, domain, composite type, function, procedure, trigger, policy, collation",
        );
        check(
            "migrations: m\nchecks: [fresh, lnt]\n",
            "DIR/s.yaml: line 2, column 17: checks[1]: unknown variant `lnt`, expected one of `fresh`, `rerun`, `rerun-bodies`, `converge`, `expect`, `lint`, `merge`, `rollback`, `faults`, `locks`",
        );
        check(
            "migrations: m\nchecks: []\n",
            "DIR/s.yaml: checks: the list is empty; name the checks to run, or leave `checks:` out for all",
        );
        check(
            "migrations: m\nexpect:\n  columns: [jobs.chat_id bigint, chat_id]\n",
            "DIR/s.yaml: line 3, column 34: expect.columns[1]: expected column `chat_id` is not written as table.column, e.g. `jobs.chat_id` or `jobs.chat_id bigint`",
        );
    }

    #[test]
    fn kept_objects_are_qualified_like_snapshot_keys() {
        let parsed = |text: &str| {
            let kept = MayKeep::parse(text).expect("parses");
            format!("{} {}", kept.kind, kept.name)
        };
        assert_eq!(parsed("table legacy_audit"), "table public.legacy_audit");
        assert_eq!(parsed("table app.audit"), "table app.audit");
        assert_eq!(
            parsed("column jobs.old_flag"),
            "column public.jobs.old_flag"
        );
        assert_eq!(
            parsed("column app.jobs.old_flag"),
            "column app.jobs.old_flag"
        );
        assert_eq!(
            parsed("materialized view totals"),
            "materialized view public.totals"
        );
        assert!(MayKeep::parse("table").is_err());
        assert!(MayKeep::parse("table a b").is_err());
    }
}
