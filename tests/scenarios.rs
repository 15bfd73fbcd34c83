//! The scenario runner: one trial per bundled scenario and check, named
//! `<dir>::<scenario>::<check>` so that `cargo test jobs` filters.
//!
//! Where a scenario lives states what it must produce: `ok/...` no error
//! finding, `err/...` exactly the findings its `expect_findings` lists.
//! Adding a scenario file adds trials.

use std::process::ExitCode;
use std::sync::Arc;

use harness::finding::{Check, Finding};
use harness::sandbox::SandboxChoice;
use harness::scenario::Scenario;
use harness::verify;
use libtest_mimic::{Arguments, Failed, Trial};
use tests::{SharedServer, runtime, workspace_root};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let root = workspace_root().join("scenarios");
    let scenarios = match Scenario::discover(&root) {
        Ok(scenarios) => scenarios,
        Err(e) => {
            eprintln!("cannot read the bundled scenarios: {e}");
            return ExitCode::from(2);
        }
    };
    let server = Arc::new(SharedServer::default());
    let mut trials = Vec::new();
    for scenario in scenarios {
        let scenario = Arc::new(scenario);
        for check in Check::ALL {
            let (server, scenario) = (server.clone(), scenario.clone());
            let name = format!("{}::{check}", scenario.id.replace('/', "::"));
            trials.push(Trial::test(name, move || trial(&server, &scenario, check)));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // Stops the cluster before the process exits; `conclusion.exit()` would
    // skip this destructor and leak it.
    drop(server);
    conclusion.exit_code()
}

fn trial(server: &SharedServer, scenario: &Scenario, check: Check) -> Result<(), Failed> {
    let group = scenario.id.split('/').next().unwrap_or_default();
    match group {
        "ok" if !scenario.expect_findings.is_empty() => {
            return Err(format!(
                "{} is under ok/ but pins findings; move it to err/ or drop expect_findings",
                scenario.id
            )
            .into());
        }
        "err" if scenario.expect_findings.is_empty() => {
            return Err(format!(
                "{} is under err/ but pins no finding; list the bug it shows under expect_findings",
                scenario.id
            )
            .into());
        }
        "ok" | "err" => {}
        _ => {
            return Err(format!(
                "{}: bundled scenarios live under scenarios/ok/ or scenarios/err/",
                scenario.id
            )
            .into());
        }
    }
    let server = server.get()?;
    let result = runtime()
        .block_on(verify::run_scenario(
            server,
            scenario,
            &[check],
            SandboxChoice::Auto,
        ))
        .map_err(|e| format!("migcheck could not run the scenario: {}", chain(&e)))?;
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
    Err(message.into())
}

/// An error and its causes, as `anyhow` prints them with `{:#}`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(&format!(": {e}"));
        cause = e.source();
    }
    text
}
