//! `--emit DIR`: a distinct finding as a scenario file that reproduces it,
//! ready to commit. The file names the set by a path relative to itself,
//! builds the shrunk state with `upto` and `sql` (or, for a past version
//! from git, with `migrations:` naming a directory written next to it with
//! that version's up scripts, so that it stays reproducible after history
//! is rewritten), and pins nothing: until the migrations are fixed,
//! `migcheck verify` on it fails the same way.

use std::path::{Component, Path, PathBuf};

use clap::ValueEnum;
use serde::Serialize;

use super::Found;
use crate::migrations::{Format, MigrationSet};
use crate::scenario::Scenario;

#[derive(Serialize)]
struct File<'a> {
    name: String,
    migrations: String,
    format: String,
    runner: String,
    tx: String,
    legacy: Vec<Legacy<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    may_keep: &'a [String],
}

#[derive(Serialize)]
struct Legacy<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    upto: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    migrations: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sql: Option<String>,
}

/// The scenario file's text for `found`, with `migrations` as written in it.
fn scenario_yaml(
    scenario: &Scenario,
    migrations: &str,
    deployed: Option<String>,
    found: &Found,
    seed: u64,
) -> Result<String, String> {
    let finding = &found.finding;
    let at = match (&finding.migration, finding.line) {
        (Some(m), Some(line)) => format!(" in {m}:{line}"),
        _ => String::new(),
    };
    let state = &found.state;
    let sql = (!state.sql.is_empty()).then(|| {
        let mut sql = state.sql.join(";\n");
        sql.push_str(";\n");
        sql
    });
    let file = File {
        name: format!("fuzz: {}{at}", finding.kind),
        migrations: migrations.to_owned(),
        format: name(scenario.format),
        runner: name(scenario.runner),
        tx: name(scenario.tx),
        legacy: vec![Legacy {
            name: &state.name,
            upto: state.upto.as_deref(),
            migrations: deployed,
            sql,
        }],
        may_keep: &state.may_keep,
    };
    let body = serde_yaml_ng::to_string(&file)
        .map_err(|e| format!("--emit: cannot write the scenario as YAML: {e}"))?;
    let mut header = match &found.commit {
        Some(commit) => format!(
            "# Found by `migcheck fuzz` from the set as it was at commit {commit} (its\n\
             # git history), pinned by content next to this file. `migcheck verify` on\n\
             # this file fails the same way until the migrations are fixed; then keep\n\
             # it as a regression test.\n"
        ),
        None => format!(
            "# Found by `migcheck fuzz --seed {seed}` (case {}, seen in {} case{}) and shrunk\n\
             # to the smallest legacy state that still fails. `migcheck verify` on this\n\
             # file fails the same way until the migrations are fixed; then keep it as a\n\
             # regression test.\n",
            found.case,
            found.occurrences,
            if found.occurrences == 1 { "" } else { "s" },
        ),
    };
    for line in finding.message.lines() {
        header.push_str(&format!("#   {}{at}: {line}\n", finding.kind));
    }
    Ok(header + &body)
}

/// Writes `found` as `DIR/fuzz-<kind>-<case>.yaml`.
pub fn write(
    dir: &Path,
    migrations: &Path,
    scenario: &Scenario,
    found: &Found,
    seed: u64,
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("--emit: cannot create {}: {e}", dir.display()))?;
    let relative = relative_to(dir, migrations)
        .map_err(|e| format!("--emit: cannot resolve {}: {e}", migrations.display()))?;
    let stem = match &found.commit {
        Some(commit) => format!("fuzz-{}-{commit}", found.finding.kind),
        None => format!("fuzz-{}-{}", found.finding.kind, found.case),
    };
    let deployed = match &found.state.deployed {
        Some(set) => {
            let name = format!("{stem}-deployed");
            write_set(&dir.join(&name), set)?;
            Some(name)
        }
        None => None,
    };
    let text = scenario_yaml(scenario, &relative, deployed, found, seed)?;
    let path = dir.join(format!("{stem}.yaml"));
    std::fs::write(&path, text)
        .map_err(|e| format!("--emit: cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The up scripts of `set` under `dir`, named as in the set's directory,
/// which is all a deployed version needs to be applied again.
fn write_set(dir: &Path, set: &MigrationSet) -> Result<(), String> {
    for migration in &set.migrations {
        let relative = migration
            .up
            .path
            .strip_prefix(&set.dir)
            .unwrap_or(&migration.up.path);
        let path = dir.join(relative);
        let written = match path.parent() {
            Some(parent) => std::fs::create_dir_all(parent),
            None => Ok(()),
        }
        .and_then(|()| std::fs::write(&path, &migration.up.sql));
        written.map_err(|e| format!("--emit: cannot write {}: {e}", path.display()))?;
        // diesel keeps "no transaction" beside the script.
        if set.format == Format::Diesel && !migration.transaction {
            let toml = path.with_file_name("metadata.toml");
            std::fs::write(&toml, "run_in_transaction = false\n")
                .map_err(|e| format!("--emit: cannot write {}: {e}", toml.display()))?;
        }
    }
    Ok(())
}

/// `target` as a path relative to the directory `from`, with `/`.
fn relative_to(from: &Path, target: &Path) -> std::io::Result<String> {
    let from = std::fs::canonicalize(from)?;
    let target = std::fs::canonicalize(target)?;
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = target.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Ok(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

fn name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}
