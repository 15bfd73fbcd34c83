//! Regression suites: a directory of scenario files run as tests of
//! `cargo test` or nextest, one libtest-mimic trial per scenario and check,
//! named `<scenario path with ::>::<check>` so that `cargo test jobs`
//! filters. A trial fails when its check has a finding that fails the run
//! (one the scenario does not pin under `expect_findings`).
//!
//! In a user's `tests/migrations.rs`, with `harness = false`:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     migcheck::suite::run(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
//! }
//! ```
//!
//! One server is started on first use and shared by all trials; it is
//! stopped when `run` returns (so `main` must return the code, never call
//! `process::exit`, which would skip the destructor and leak the server).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Conclusion, Failed, Trial};

use crate::finding::{Check, Finding};
use crate::postgres::{PgSpec, Server};
use crate::sandbox::{SandboxChoice, Timeouts};
use crate::scenario::Scenario;

/// Runs the scenarios under `dir` as trials, with the arguments `cargo
/// test` passed, and returns the exit code for `main`.
pub fn run(dir: impl AsRef<Path>) -> ExitCode {
    Suite::new(dir).run()
}

/// A regression suite: which scenarios, on which server, which checks.
#[derive(Debug, Clone)]
pub struct Suite {
    dir: PathBuf,
    pg: Option<PgSpec>,
    checks: Vec<Check>,
    timeouts: Timeouts,
    ok_err_layout: bool,
}

impl Suite {
    /// Every scenario file under `dir`, every check, on the server
    /// `$MIGCHECK_PG` names (as `--pg` does; default `auto`).
    pub fn new(dir: impl AsRef<Path>) -> Suite {
        Suite {
            dir: dir.as_ref().to_path_buf(),
            pg: None,
            checks: Check::ALL.to_vec(),
            timeouts: Timeouts::default(),
            ok_err_layout: false,
        }
    }

    /// Where the server comes from, instead of `$MIGCHECK_PG`.
    pub fn pg(mut self, pg: PgSpec) -> Suite {
        self.pg = Some(pg);
        self
    }

    pub fn checks(mut self, checks: &[Check]) -> Suite {
        self.checks = checks.to_vec();
        self
    }

    pub fn timeouts(mut self, timeouts: Timeouts) -> Suite {
        self.timeouts = timeouts;
        self
    }

    /// Scenarios must live under `ok/` (and pin no finding) or `err/` (and
    /// pin the bug they show): migcheck's own corpus is laid out so.
    pub fn ok_err_layout(mut self) -> Suite {
        self.ok_err_layout = true;
        self
    }

    /// Parses the test harness's arguments, runs the trials, stops the
    /// server and returns the exit code.
    pub fn run(self) -> ExitCode {
        match self.run_with(&Arguments::from_args()) {
            Ok(conclusion) => conclusion.exit_code(),
            Err(e) => {
                let error = crate::report::printable(&crate::error::report(&e));
                eprintln!("migcheck suite: {error}");
                ExitCode::from(2)
            }
        }
    }

    /// Runs the trials `args` selects; `Err` when the scenarios cannot be
    /// read. The server is stopped before this returns.
    pub fn run_with(&self, args: &Arguments) -> Result<Conclusion, crate::Error> {
        let scenarios = Scenario::discover(&self.dir)?;
        let pg = match &self.pg {
            Some(pg) => pg.clone(),
            None => match std::env::var("MIGCHECK_PG") {
                Ok(text) => text.parse().map_err(|message: String| {
                    crate::Error::Suite(format!("$MIGCHECK_PG: {message}"))
                })?,
                Err(_) => PgSpec::Auto,
            },
        };
        let server = Arc::new(SharedServer {
            pg,
            server: OnceLock::new(),
        });
        let mut trials = Vec::new();
        for scenario in scenarios {
            let scenario = Arc::new(scenario);
            for check in &self.checks {
                let (server, scenario, check) = (server.clone(), scenario.clone(), *check);
                let (timeouts, layout) = (self.timeouts, self.ok_err_layout);
                let name = format!("{}::{check}", scenario.id.replace('/', "::"));
                trials.push(Trial::test(name, move || {
                    trial(&server, &scenario, check, timeouts, layout)
                }));
            }
        }
        let conclusion = libtest_mimic::run(args, trials);
        drop(server);
        Ok(conclusion)
    }
}

/// A server started by the first trial that needs one.
struct SharedServer {
    pg: PgSpec,
    server: OnceLock<Result<Server, String>>,
}

impl SharedServer {
    fn get(&self) -> Result<&Server, String> {
        self.server
            .get_or_init(|| {
                Server::start(&self.pg, None).map_err(|e| {
                    format!(
                        "cannot start a Postgres server: {}",
                        crate::error::report(&e)
                    )
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn trial(
    server: &SharedServer,
    scenario: &Scenario,
    check: Check,
    timeouts: Timeouts,
    ok_err_layout: bool,
) -> Result<(), Failed> {
    if ok_err_layout {
        layout(scenario)?;
    }
    let server = server.get()?;
    let runtime = crate::runtime().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let result = runtime
        .block_on(crate::pipeline::run_scenario(
            server,
            scenario,
            &[check],
            SandboxChoice::Auto,
            timeouts,
        ))
        .map_err(|e| {
            crate::report::printable(&format!(
                "migcheck could not run the scenario: {}",
                crate::error::report(&e)
            ))
        })?;
    let failing: Vec<&Finding> = result.findings.iter().filter(|f| f.fails_run()).collect();
    if failing.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "{} ({}): {} unexpected finding{} from check {check}:\n",
        scenario.id,
        scenario.title,
        failing.len(),
        if failing.len() == 1 { "" } else { "s" }
    );
    for f in failing {
        let place = match (&f.migration, f.line) {
            (Some(m), Some(l)) => format!("{m}:{l}: "),
            _ => String::new(),
        };
        message.push_str(&format!("  {} {place}{}\n", f.kind, f.message));
        if let Some(diff) = &f.diff {
            message.push_str(&format!("{diff}\n"));
        }
    }
    message.push_str(
        "Fix the migrations, or, if this finding is the bug the scenario pins, list it under expect_findings.",
    );
    Err(crate::report::printable(&message).into())
}

/// `ok/` scenarios pin nothing, `err/` scenarios pin their bug.
fn layout(scenario: &Scenario) -> Result<(), Failed> {
    let group = scenario.id.split('/').next().unwrap_or_default();
    let problem = match group {
        "ok" if !scenario.expect_findings.is_empty() => {
            "is under ok/ but pins findings; move it to err/ or drop expect_findings"
        }
        "err" if scenario.expect_findings.is_empty() => {
            "is under err/ but pins no finding; list the bug it shows under expect_findings"
        }
        "ok" | "err" => return Ok(()),
        _ => "must live under ok/ or err/",
    };
    Err(format!("{} {problem}", scenario.id).into())
}
