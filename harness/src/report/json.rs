//! The JSON report: exactly the shape of `product.md` (version 1), plus a
//! `scenarios` array (with each scenario's notes, opt-outs and the checks
//! that could not run) and each
//! finding's `expected` flag, all additions.

use serde_json::{Value, json};

use super::Report;

pub(super) fn render(report: &Report) -> String {
    let findings: Vec<_> = report.findings().collect();
    let scenarios: Vec<Value> = report
        .scenarios
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.title,
                "set": s.set,
                "postgres": s.postgres,
                "sandbox": s.sandbox,
                "sandbox_reason": s.sandbox_reason,
                "runner": s.runner,
                "checks": s.checks,
                "not_run": s.not_run,
                "cases": s.cases,
                "ok": s.ok(),
                "notes": s.all_notes(),
                "opt_outs": s.opt_outs,
            })
        })
        .collect();
    let value = json!({
        "version": 1,
        "ok": report.ok(),
        "summary": {
            "scenarios": report.scenario_count(),
            "cases": report.scenarios.iter().map(|s| s.cases).sum::<usize>(),
            "findings": findings.len(),
            "postgres": report.postgres,
            "duration_ms": report.duration.as_millis() as u64,
        },
        "findings": findings,
        "scenarios": scenarios,
    });
    super::json_text(&value)
}
