//! `migcheck fuzz --self-test`: migcheck's power, measured. Random schema
//! histories (`generators::history`) are rendered as migration sets, once
//! correctly and once per injected defect; each runs through every check
//! of `verify` and through the fuzzer. A correct rendering must give no
//! error finding (else a false positive); a defective one must give the
//! finding kind of its defect (else a miss).

use std::path::Path;
use std::time::{Duration, Instant};

use generators::history::{self, Defect, Plan, Rendered};
use proptest::strategy::{Strategy, ValueTree};

use super::{Options as FuzzOptions, Shard};
use crate::finding::Check;
use crate::postgres::Server;
use crate::sandbox::{SandboxChoice, Timeouts};
use crate::scenario::Scenario;

#[derive(Debug, Clone)]
pub struct Options {
    /// Histories generated; each gives one correct set and one per defect.
    pub histories: u64,
    pub seed: u64,
    /// Fuzz cases per set, on top of verify's checks.
    pub cases: u64,
    pub jobs: usize,
    /// Keep each failing trial's set under this directory.
    pub keep: Option<std::path::PathBuf>,
}

/// One set: a history rendered with or without a defect.
#[derive(Debug, Clone)]
pub struct Trial {
    /// Which history of the sequence.
    pub history: u64,
    pub defect: Option<Defect>,
    /// The kinds of the error findings it gave, sorted, without repeats.
    pub errors: Vec<String>,
    /// The kinds of every finding it gave, warnings included (a static
    /// lint finding counts as a detection).
    pub reported: Vec<String>,
}

impl Trial {
    /// A correct set with no error finding, or a defect found.
    pub fn passed(&self) -> bool {
        match self.defect {
            None => self.errors.is_empty(),
            Some(defect) => self.reported.iter().any(|k| k == defect.kind()),
        }
    }
}

#[derive(Debug)]
pub struct SelfTest {
    pub options: Options,
    pub trials: Vec<Trial>,
    pub elapsed: Duration,
}

impl SelfTest {
    /// 100% detection and no false positive.
    pub fn passed(&self) -> bool {
        self.trials.iter().all(Trial::passed)
    }

    /// A table: per defect class its detection and false-positive rates,
    /// the correct sets flagged at all, then every trial that did not pass.
    pub fn render(&self) -> String {
        let mut out = format!(
            "migcheck fuzz --self-test: {} histor{} (seed {}), {} fuzz cases per set, {:.1} s\n\n",
            self.options.histories,
            if self.options.histories == 1 {
                "y"
            } else {
                "ies"
            },
            self.options.seed,
            self.options.cases,
            self.elapsed.as_secs_f64()
        );
        // A false positive of a class: a correct set that gave its kind as
        // an error.
        let correct: Vec<&Trial> = self.trials.iter().filter(|t| t.defect.is_none()).collect();
        let flagged = correct.iter().filter(|t| !t.passed()).count();
        out.push_str(&format!(
            "{:<26} {:>7} {:>9} {:>9}   {}\n",
            "defect class", "trials", "detected", "rate", "false positives"
        ));
        for defect in Defect::ALL {
            let trials: Vec<&Trial> = self
                .trials
                .iter()
                .filter(|t| t.defect == Some(defect))
                .collect();
            let detected = trials.iter().filter(|t| t.passed()).count();
            let false_positives = correct
                .iter()
                .filter(|t| t.errors.iter().any(|k| k == defect.kind()))
                .count();
            out.push_str(&format!(
                "{:<26} {:>7} {:>9} {:>9}   {false_positives} of {} correct sets ({})\n",
                defect.kind(),
                trials.len(),
                detected,
                percent(detected, trials.len()),
                correct.len(),
                percent(false_positives, correct.len()),
            ));
        }
        out.push_str(&format!(
            "{:<26} {:>7} {:>9} {:>9}   {flagged} flagged ({})\n",
            "correct sets (any kind)",
            correct.len(),
            "-",
            "-",
            percent(flagged, correct.len())
        ));
        let failed: Vec<&Trial> = self.trials.iter().filter(|t| !t.passed()).collect();
        if !failed.is_empty() {
            out.push('\n');
        }
        for trial in failed {
            let what = match trial.defect {
                None => "correct set gave".to_owned(),
                Some(d) => format!("{} defect missed; gave", d.kind()),
            };
            let kinds = match trial.reported.as_slice() {
                [] => "no finding".to_owned(),
                kinds => kinds.join(", "),
            };
            out.push_str(&format!(
                "  history {}: {what} {kinds} (repeat: --seed {} --histories {})\n",
                trial.history,
                self.options.seed,
                trial.history + 1
            ));
        }
        out.push_str(if self.passed() {
            "\nok: every defect detected, no false positive\n"
        } else {
            "\nFAILED: a defect was missed or a correct set was flagged\n"
        });
        out
    }
}

fn percent(n: usize, of: usize) -> String {
    match of {
        0 => "-".to_owned(),
        _ => format!("{:.0}%", 100.0 * n as f64 / of as f64),
    }
}

/// Runs the self-test on `server`.
pub fn run(server: &Server, options: &Options) -> Result<SelfTest, crate::Error> {
    let started = Instant::now();
    let runtime = crate::runtime().map_err(crate::Error::Runtime)?;
    let strategy = history::plans();
    let mut trials = Vec::new();
    for i in 0..options.histories {
        if crate::postgres::interrupted() {
            break;
        }
        let plan = plan(&strategy, options.seed, i);
        let variants = std::iter::once(None).chain(Defect::ALL.into_iter().map(Some));
        for defect in variants {
            let Some(rendered) = history::render(&plan, defect) else {
                continue;
            };
            let (errors, reported) = trial(server, &runtime, &rendered, options)?;
            let trial = Trial {
                history: i,
                defect,
                errors,
                reported,
            };
            if !trial.passed()
                && let Some(keep) = &options.keep
            {
                let name = match defect {
                    None => format!("history-{i}-correct"),
                    Some(d) => format!("history-{i}-{}", d.kind()),
                };
                write(&keep.join(name), &rendered).map_err(crate::Error::Fuzz)?;
            }
            trials.push(trial);
        }
    }
    Ok(SelfTest {
        options: options.clone(),
        trials,
        elapsed: started.elapsed(),
    })
}

fn plan<S: Strategy<Value = Plan>>(strategy: &S, seed: u64, i: u64) -> Plan {
    super::value_tree(strategy, seed, i, *b"history!").current()
}

/// The finding kinds of one rendered set, errors and all: verify's
/// checks, then the fuzzer.
fn trial(
    server: &Server,
    runtime: &tokio::runtime::Runtime,
    rendered: &Rendered,
    options: &Options,
) -> Result<(Vec<String>, Vec<String>), crate::Error> {
    let dir = tempfile::Builder::new()
        .prefix("migcheck-selftest-")
        .tempdir()
        .map_err(|e| crate::Error::Fuzz(format!("cannot create a temp directory: {e}")))?;
    let file = write(dir.path(), rendered).map_err(crate::Error::Fuzz)?;
    let scenario = Scenario::discover(&file)?.remove(0);
    // The planted bugs are upgrade bugs; what a set locks is another
    // question, which the generated sets do not pose.
    let checks: Vec<Check> = Check::ALL
        .into_iter()
        .filter(|c| !matches!(c, Check::Merge | Check::Locks))
        .collect();
    let verified = runtime.block_on(crate::pipeline::run_scenario(
        server,
        &scenario,
        &checks,
        SandboxChoice::Auto,
        Timeouts::default(),
    ))?;
    let prepared = crate::pipeline::prepare(&scenario, &[], SandboxChoice::Auto)?;
    let fuzzed = super::run(
        server,
        runtime,
        &prepared,
        &FuzzOptions {
            cases: Some(options.cases),
            time: None,
            seed: options.seed,
            shard: Shard::default(),
            jobs: options.jobs,
            sandbox: SandboxChoice::Auto,
            timeouts: Timeouts::default(),
            emit: None,
            progress: None,
        },
    )?;
    let findings: Vec<&crate::finding::Finding> = verified
        .findings
        .iter()
        .chain(&fuzzed.result.findings)
        .collect();
    let kinds = |errors_only: bool| {
        let mut kinds: Vec<String> = findings
            .iter()
            .filter(|f| !errors_only || f.fails_run())
            .map(|f| f.kind.to_string())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    };
    Ok((kinds(true), kinds(false)))
}

/// Writes the set under `dir/migrations` and its scenario as `dir/set.yaml`.
fn write(dir: &Path, rendered: &Rendered) -> Result<std::path::PathBuf, String> {
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations)
        .map_err(|e| format!("cannot create {}: {e}", migrations.display()))?;
    for (name, sql) in &rendered.files {
        let path = migrations.join(name);
        std::fs::write(&path, sql).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let file = dir.join("set.yaml");
    std::fs::write(&file, rendered.scenario_yaml("migrations"))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(file)
}
