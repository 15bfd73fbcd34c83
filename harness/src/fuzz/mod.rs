//! `migcheck fuzz`: legacy states generated from the set's own history
//! (`generators::legacy`), each built in the cheapest sandbox, the set
//! applied on top and judged like the converge check does. Failing cases
//! are deduplicated by kind and location, shrunk to a minimal state, and
//! can be written out as scenario files that reproduce them.
//!
//! Case `i` of a run depends only on `--seed` and `i`, so a run is
//! reproducible whatever `-j` is, and `--shard I/N` splits the same
//! sequence of cases between machines.

mod case;
mod emit;
mod evidence;
mod history;
mod model;
pub mod selftest;
mod shrink;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use generators::legacy::LegacyCase;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::finding::{Check, Finding, Kind};
use crate::git::{self, past::PastVersion};
use crate::migrations::MigrationSet;
use crate::pipeline::{self, Prepared};
use crate::postgres::Server;
use crate::report::ScenarioResult;
use crate::runner::Runner;
use crate::sandbox::{Access, SandboxChoice, Sandboxes, Timeouts};
use crate::scenario::Scenario;
use case::{Verdict, Worker};

/// How many cases, on how many connections, from which seed.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after this many cases (of the whole sequence, before sharding).
    pub cases: Option<u64>,
    /// Stop after this long (whichever comes first), shrinking included:
    /// what is not shrunk by then is reported as found.
    pub time: Option<Duration>,
    pub seed: u64,
    pub shard: Shard,
    /// Cases run at the same time, each on its own connection and database.
    pub jobs: usize,
    pub sandbox: SandboxChoice,
    pub timeouts: Timeouts,
    /// Write a scenario file per distinct finding here.
    pub emit: Option<PathBuf>,
    /// Called about four times a second while cases run.
    pub progress: Option<fn(&Progress)>,
}

/// `--shard I/N`: this run takes the cases `i` with `i % N == I - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard { index: 1, count: 1 }
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("`{text}`: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = index.trim().parse().map_err(|_| usage())?;
        let count: u64 = count.trim().parse().map_err(|_| usage())?;
        if index == 0 || count == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where a run is, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub cases: u64,
    /// Cases of the run's bound, when it is a number of cases.
    pub of: Option<u64>,
    pub failing: u64,
    pub distinct: usize,
    pub elapsed: Duration,
    /// While shrinking: the finding being shrunk (1-based), of how many,
    /// and the cases shrinking has run so far.
    pub shrinking: Option<(usize, usize, usize)>,
}

/// A distinct finding, with the smallest state found that shows it.
#[derive(Debug, Clone)]
pub struct Found {
    pub finding: Finding,
    /// The first case (of the sequence) that showed it; for a past version
    /// from git, its commit instead.
    pub case: u64,
    pub commit: Option<String>,
    /// Cases that showed it.
    pub occurrences: u64,
    pub state: State,
    /// The scenario file written for it (`--emit`).
    pub emitted: Option<PathBuf>,
}

/// A legacy state as a scenario writes it: the set applied up to a
/// version, then SQL.
#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub upto: Option<String>,
    /// Or a past version of the set from git, deployed first.
    pub deployed: Option<Box<MigrationSet>>,
    pub sql: Vec<String>,
    /// Objects the state added by hand, which an upgraded database keeps.
    pub may_keep: Vec<String>,
}

/// What a fuzz run did.
#[derive(Debug)]
pub struct Fuzzed {
    pub result: ScenarioResult,
    pub found: Vec<Found>,
    pub cases: u64,
    /// How long the cases took, without reading the history or shrinking.
    pub cases_took: Duration,
    pub elapsed: Duration,
}

/// Fuzzes `scenario`'s set on a server of each of `versions` (the
/// backend's default when empty), one after the other, into one report.
pub fn matrix(
    pg: &crate::postgres::PgSpec,
    versions: &[u32],
    scenario: &Scenario,
    options: &Options,
) -> Result<crate::report::Report, crate::Error> {
    let started = Instant::now();
    let prepared = pipeline::prepare(scenario, &[], options.sandbox)?;
    let runtime = crate::runtime().map_err(crate::Error::Runtime)?;
    let mut report = crate::report::Report {
        scenarios: Vec::new(),
        postgres: Vec::new(),
        backend: String::new(),
        duration: Duration::ZERO,
    };
    crate::postgres::for_each_major(pg, versions, |server| {
        let fuzzed = run(&server, &runtime, &prepared, options)?;
        report.scenarios.push(fuzzed.result);
        report.postgres.push(server.version().to_string());
        report.backend = format!("{} {}", server.backend(), server.location());
        Ok::<_, crate::Error>(())
    })?;
    report.duration = started.elapsed();
    Ok(report)
}

/// Fuzzes the prepared set on `server`.
pub fn run(
    server: &Server,
    runtime: &tokio::runtime::Runtime,
    prepared: &Prepared,
    options: &Options,
) -> Result<Fuzzed, crate::Error> {
    let (scenario, set, choice) = (&prepared.scenario, &prepared.set, &prepared.sandbox);
    let in_scenario = |source| crate::Error::Scenario {
        id: scenario.id.clone(),
        source: Box::new(source),
    };
    let mut workers: Vec<Worker> = (0..options.jobs.max(1))
        .map(|_| {
            let sandboxes = Sandboxes::new(server, choice.strategy, options.timeouts)
                .with_access(Access::of(scenario.superuser));
            Worker::new(sandboxes)
        })
        .collect();
    let runner = scenario.runner_for(set);
    let started = Instant::now();
    let deadline = options.time.map(|t| started + t);
    // Cases take the first three quarters of --time, shrinking the rest.
    let cases_until = options.time.map(|t| started + t.mul_f64(0.75));
    // Ctrl-C ends the run as --time does: what was found is reported.
    let _soft = crate::postgres::SoftStop::begin();
    let past = match scenario.git_history {
        0 => Default::default(),
        limit => git::past::read(set, limit, scenario.base.as_deref()),
    };
    let judge = Judge {
        strict: scenario.fuzz == crate::scenario::FuzzEvidence::Strict,
        rerun_all: runner.mode == crate::runner::RunnerMode::RerunAll,
    };
    let fuzzed = runtime.block_on(fuzz(
        &mut workers,
        set,
        &past.versions,
        runner,
        options,
        (cases_until, deadline),
        judge,
    ));
    // The sandbox databases go even when fuzzing failed.
    let mut shut = Ok(());
    for worker in workers {
        let result = runtime.block_on(worker.shutdown());
        shut = shut.and(result);
    }
    let outcome = fuzzed.map_err(|e| in_scenario(e.into()))?;
    shut.map_err(|e| in_scenario(e.into()))?;
    let elapsed = started.elapsed();
    let Outcome {
        cases,
        cases_took,
        mut found,
        shrink_steps,
        fresh_failed,
        unshrunk,
        stopped,
    } = outcome;

    let version = server.version().to_string();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut notes = vec![format!(
        "fuzz: {cases} legacy-state case{} in {:.1} s ({:.0} cases/s, seed {}, shard {}, -j {}), {} distinct finding{}, shrunk in {shrink_steps} more case{}",
        plural(cases as usize),
        cases_took.as_secs_f64(),
        cases as f64 / cases_took.as_secs_f64().max(1e-9),
        options.seed,
        options.shard,
        options.jobs.max(1),
        found.len(),
        plural(found.len()),
        plural(shrink_steps),
    )];
    // --time ends every timed run; only say so when it cut shrinking short.
    match stopped {
        Some(why) if unshrunk > 0 || why == "Ctrl-C" => notes.push(format!(
            "fuzz: stopped by {why}; {unshrunk} finding{} reported as found, not shrunk",
            plural(unshrunk)
        )),
        _ => {}
    }
    if let Some(dir) = &options.emit {
        // The layout as detected, so the file reads the set the same way.
        let mut scenario = scenario.clone();
        scenario.format = set.format;
        for found in found.iter_mut() {
            let path = emit::write(dir, &scenario.migrations, &scenario, found, options.seed)
                .map_err(|e| in_scenario(crate::Error::Fuzz(e)))?;
            let from = match &found.commit {
                Some(commit) => format!("the set at commit {commit}"),
                None => format!("case {}", found.case),
            };
            notes.push(format!(
                "fuzz: {} reproduces the {} of {from}",
                path.display(),
                found.finding.kind,
            ));
            found.emitted = Some(path);
        }
    }
    let mut findings: Vec<Finding> = fresh_failed.into_iter().collect();
    findings.extend(found.iter().map(|f| f.finding.clone()));
    for finding in &mut findings {
        finding.scenario = scenario.id.clone();
        finding.postgres = version.clone();
    }
    Ok(Fuzzed {
        result: ScenarioResult {
            id: scenario.id.clone(),
            title: scenario.title.clone(),
            set: Some(crate::report::SetSummary::of(set)),
            postgres: version,
            sandbox: Some(choice.strategy),
            sandbox_reason: choice.reason.clone(),
            runner: Some(scenario.runner_reason()),
            checks: vec![Check::Converge],
            not_run: Vec::new(),
            cases: cases as usize,
            findings,
            notes,
            opt_outs: Vec::new(),
            migrations: Some(scenario.migrations.clone()),
            kept: None,
        },
        found,
        cases,
        cases_took,
        elapsed,
    })
}

/// What the cases found.
#[derive(Default)]
struct Outcome {
    cases: u64,
    /// How long the cases took, without reading the history or shrinking.
    cases_took: Duration,
    found: Vec<Found>,
    /// Cases run while shrinking.
    shrink_steps: usize,
    /// The fresh install's failure, which stops a run before any case:
    /// there is nothing to converge to.
    fresh_failed: Option<Finding>,
    /// Findings whose shrinking was cut short or never started.
    unshrunk: usize,
    /// What ended the run early (`--time`, Ctrl-C), if anything did.
    stopped: Option<&'static str>,
}

/// How findings are rated (see `evidence`).
#[derive(Debug, Clone, Copy)]
struct Judge {
    /// `fuzz: strict`: invented drift gives errors too.
    strict: bool,
    rerun_all: bool,
}

/// Why the run must end now, if it must: its time is up or Ctrl-C.
fn over(deadline: Option<Instant>) -> Option<&'static str> {
    if crate::postgres::stop_requested() || crate::postgres::interrupted() {
        Some("Ctrl-C")
    } else if deadline.is_some_and(|d| Instant::now() >= d) {
        Some("--time")
    } else {
        None
    }
}

async fn fuzz(
    workers: &mut [Worker<'_>],
    set: &MigrationSet,
    past: &[PastVersion],
    runner: Runner,
    options: &Options,
    (cases_until, deadline): (Option<Instant>, Option<Instant>),
    judge: Judge,
) -> Result<Outcome, crate::observe::ObserveError> {
    let history = match history::read(workers[0].sandboxes(), set, runner).await? {
        Ok(history) => history,
        Err(error) => {
            return Ok(Outcome {
                fresh_failed: Some(crate::checks::failed(Kind::ApplyFailed, &error)),
                ..Outcome::default()
            });
        }
    };
    let strategy = generators::legacy::cases(&history.generators);
    let fresh = history.fresh();
    let fingerprint = fresh.fingerprint();
    let facts = evidence::Facts::read(set);
    let target = case::Target {
        set,
        runner,
        fresh,
        fingerprint: &fingerprint,
        facts: &facts,
    };
    let shared = Shared {
        strategy: &strategy,
        target: &target,
        options,
        deadline: cases_until,
        started: Instant::now(),
        next: Cell::new(0),
        run: Cell::new(0),
        failing: Default::default(),
        last_report: Cell::new(Instant::now()),
    };
    let results =
        futures_util::future::join_all(workers.iter_mut().map(|w| work(w, &shared))).await;
    for result in results {
        result?;
    }
    shared.report(None);
    let cases_took = shared.started.elapsed();
    let mut stopped = over(cases_until);
    let Shared { run, failing, .. } = shared;
    let cases = run.get();
    let mut shrink_steps = 0;
    let mut unshrunk = 0;
    let failing = failing.into_inner();
    // Shrink the first case of each distinct finding, in case order, so
    // that the result does not depend on which worker saw what first.
    let mut firsts: Vec<Failing> = failing.into_values().collect();
    firsts.sort_by_key(|f| f.case);
    // The set's own past versions from git first: states that exist.
    let mut found: Vec<Found> = Vec::new();
    for version in past {
        if let Some(why) = over(deadline) {
            stopped = Some(why);
            break;
        }
        let Some(mut finding) = workers[0].run_deployed(&target, &version.set).await? else {
            continue;
        };
        finding.legacy_state = Some(version.name.clone());
        if !found
            .iter()
            .any(|f| dedup_key(&f.finding) == dedup_key(&finding))
        {
            found.push(Found {
                finding,
                case: 0,
                commit: Some(version.commit.short().to_owned()),
                occurrences: 1,
                state: State {
                    name: version.name.clone(),
                    upto: None,
                    deployed: Some(Box::new(version.set.clone())),
                    sql: Vec::new(),
                    may_keep: Vec::new(),
                },
                emitted: None,
            });
        }
    }
    // Each case without the changes by hand that are no evidence, run
    // before any shrinking: whether the failure needs them decides its
    // severity, even when time is too short to shrink.
    let mut plains = Vec::with_capacity(firsts.len());
    for first in &firsts {
        let case = case_value(&strategy, options.seed, first.case).current();
        let mut plain = None;
        if let Some(probe) = facts.evidence_only(&case, judge.rerun_all)
            && !judge.strict
            && over(deadline).is_none()
        {
            shrink_steps += 1;
            if let Verdict::Fail(failure) = workers[0].run(&target, &probe).await?
                && same_failure(&failure.finding, &first.failure.finding)
            {
                plain = Some((probe, *failure));
            }
        }
        plains.push(plain);
    }
    let total = firsts.len();
    for (n, (first, plain)) in firsts.into_iter().zip(plains).enumerate() {
        let tree = case_value(&strategy, options.seed, first.case);
        let progress = |steps: usize| {
            if let Some(progress) = options.progress {
                progress(&Progress {
                    cases,
                    of: None,
                    failing: 0,
                    distinct: total,
                    elapsed: cases_took,
                    shrinking: Some((n + 1, total, steps)),
                });
            }
        };
        let shrunk = shrink::shrink(
            &mut workers[0],
            &target,
            tree,
            *first.failure,
            || over(deadline).is_some(),
            progress,
        )
        .await?;
        shrink_steps += shrunk.steps;
        let complete = shrunk.complete;
        if !complete {
            stopped = stopped.or(over(deadline));
        }
        let (case, failure) = match plain {
            Some(plain)
                if facts
                    .premise(
                        &shrunk.case,
                        shrunk.failure.finding.sqlstate.as_deref(),
                        judge.rerun_all,
                    )
                    .is_some() =>
            {
                plain
            }
            _ => (shrunk.case, shrunk.failure),
        };
        let state = history.state(&case, &failure);
        let mut finding = failure.finding;
        finding.legacy_state = Some(state.name.clone());
        if !judge.strict
            && let Some(premise) =
                facts.premise(&case, finding.sqlstate.as_deref(), judge.rerun_all)
        {
            finding.severity = crate::finding::Severity::Warning;
            finding.message = format!("{premise}: {}", finding.message);
        }
        if found
            .iter()
            .any(|f| dedup_key(&f.finding) == dedup_key(&finding))
        {
            continue;
        }
        unshrunk += usize::from(!complete);
        found.push(Found {
            finding,
            case: first.case,
            commit: None,
            occurrences: first.occurrences,
            state,
            emitted: None,
        });
    }
    Ok(Outcome {
        cases,
        cases_took,
        found,
        shrink_steps,
        fresh_failed: None,
        unshrunk,
        stopped,
    })
}

/// The first failing case of a distinct finding, as the cases saw it.
struct Failing {
    case: u64,
    /// Cases that showed it.
    occurrences: u64,
    failure: Box<case::Failure>,
}

/// Cases a worker takes at a time.
const BATCH: usize = 32;

/// What the workers share: they run on one thread, taking turns at each
/// await, so plain cells do.
struct Shared<'a, S> {
    strategy: &'a S,
    target: &'a case::Target<'a>,
    options: &'a Options,
    deadline: Option<Instant>,
    started: Instant,
    /// The next case to take, counted in this shard's part of the sequence.
    next: Cell<u64>,
    /// Cases run.
    run: Cell<u64>,
    /// By dedup key: the first failing case and how many failed.
    failing: RefCell<BTreeMap<String, Failing>>,
    last_report: Cell<Instant>,
}

impl<S> Shared<'_, S> {
    /// The next case, or `None` when the run is over.
    fn take(&self) -> Option<u64> {
        let i = shard_case(self.next.get(), self.options.shard);
        self.next.set(self.next.get() + 1);
        let over = self.options.cases.is_some_and(|n| i >= n) || over(self.deadline).is_some();
        (!over).then_some(i)
    }

    fn report(&self, shrinking: Option<(usize, usize, usize)>) {
        let Some(progress) = self.options.progress else {
            return;
        };
        let failing = self.failing.borrow();
        progress(&Progress {
            cases: self.run.get(),
            of: self
                .options
                .cases
                .map(|n| shard_size(n, self.options.shard)),
            failing: failing.values().map(|f| f.occurrences).sum(),
            distinct: failing.len(),
            elapsed: self.started.elapsed(),
            shrinking,
        });
    }
}

/// One worker: takes cases until the run is over.
async fn work<S: Strategy<Value = LegacyCase>>(
    worker: &mut Worker<'_>,
    shared: &Shared<'_, S>,
) -> Result<(), crate::observe::ObserveError> {
    loop {
        // A few cases at a time, run in order of their version: a worker
        // then mostly builds forward from the version it holds.
        let mut batch: Vec<(u64, LegacyCase)> = std::iter::from_fn(|| shared.take())
            .take(BATCH)
            .map(|i| {
                (
                    i,
                    case_value(shared.strategy, shared.options.seed, i).current(),
                )
            })
            .collect();
        if batch.is_empty() {
            break;
        }
        batch.sort_by_key(|(i, case)| (case.upto, *i));
        for (i, value) in batch {
            // The rest of the batch goes untaken when time is up.
            if over(shared.deadline).is_some() {
                return Ok(());
            }
            let verdict = worker.run(shared.target, &value).await?;
            shared.run.set(shared.run.get() + 1);
            if let Verdict::Fail(failure) = verdict {
                let mut failing = shared.failing.borrow_mut();
                let entry = failing
                    .entry(dedup_key(&failure.finding))
                    .or_insert_with(|| Failing {
                        case: i,
                        occurrences: 0,
                        failure: failure.clone(),
                    });
                // The earliest case of the sequence, whatever -j.
                if i < entry.case {
                    entry.case = i;
                    entry.failure = failure;
                }
                entry.occurrences += 1;
            }
            if shared.last_report.get().elapsed() >= Duration::from_millis(250) {
                shared.last_report.set(Instant::now());
                shared.report(None);
            }
        }
    }
    Ok(())
}

/// The `n`-th case of this shard's part of the sequence.
fn shard_case(n: u64, shard: Shard) -> u64 {
    n * shard.count + (shard.index - 1)
}

/// Cases of the first `total` that fall to `shard`.
fn shard_size(total: u64, shard: Shard) -> u64 {
    total.saturating_sub(shard.index - 1).div_ceil(shard.count)
}

/// Case `i` of the sequence of `seed`, as a value tree to shrink.
fn case_value<S: Strategy<Value = LegacyCase>>(strategy: &S, seed: u64, i: u64) -> S::Tree {
    value_tree(strategy, seed, i, *b"migcheck")
}

/// Value `i` of `strategy` in the sequence of `seed` (`salt` keeps the
/// sequences of different strategies apart): a ChaCha RNG seeded with all
/// three, so the value depends on nothing else.
pub(crate) fn value_tree<S: Strategy>(strategy: &S, seed: u64, i: u64, salt: [u8; 8]) -> S::Tree {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&i.to_le_bytes());
    bytes[16..24].copy_from_slice(&salt);
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    // The generators use no filters, so no value is ever rejected.
    match strategy.new_tree(&mut runner) {
        Ok(tree) => tree,
        Err(reason) => unreachable!("the generators never reject: {reason}"),
    }
}

/// What shrinking keeps: the kind and the migration of the failure.
fn same_failure(a: &Finding, b: &Finding) -> bool {
    a.kind == b.kind && a.migration == b.migration
}

/// Findings are the same when their kind and location are: the statement
/// that failed, or the first object that differs.
fn dedup_key(finding: &Finding) -> String {
    let at = match (&finding.migration, finding.line) {
        (Some(migration), Some(line)) => format!("{migration}:{line}"),
        _ => finding
            .diff
            .as_deref()
            .and_then(|d| d.lines().next())
            .unwrap_or_default()
            .to_owned(),
    };
    format!("{} {at}", finding.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_sequence() {
        for total in [0, 1, 7, 80, 81] {
            for count in 1..5 {
                let mut all: Vec<u64> = (1..=count)
                    .flat_map(|index| {
                        let shard = Shard { index, count };
                        let n = shard_size(total, shard);
                        assert!((0..n).all(|k| shard_case(k, shard) < total));
                        assert!(shard_case(n, shard) >= total);
                        (0..n).map(move |k| shard_case(k, shard))
                    })
                    .collect();
                all.sort();
                assert_eq!(all, (0..total).collect::<Vec<_>>());
            }
        }
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert!("0/4".parse::<Shard>().is_err());
        assert!("5/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
