//! The bench's findings, from its runs: `table-rewrite` (a table over the
//! size threshold was rewritten) and `long-exclusive-lock` (ACCESS
//! EXCLUSIVE held longer than the budget at a measured size, or, for a
//! statement linear in N, at the projected size).

use std::time::Duration;

use crate::bench::Run;
use crate::bench::scaling::{Growth, Thresholds, human_bytes, series};
use crate::finding::{Finding, Kind, Severity};

pub(crate) fn findings(set: &str, runs: &[Run], thresholds: &Thresholds) -> Vec<Finding> {
    let mut findings = Vec::new();
    for series in series(runs) {
        let of_series: Vec<&Run> = runs
            .iter()
            .filter(|r| {
                r.postgres == series.postgres
                    && r.migration == series.migration
                    && r.statement == series.statement
            })
            .collect();
        let base = Finding {
            scenario: set.to_owned(),
            postgres: series.postgres.clone(),
            migration: Some(series.migration.clone()),
            statement: Some(series.statement),
            line: Some(series.line),
            column: Some(1),
            // Bench has no checks; `Kind::check` names the `locks` check.
            check: None,
            ..Finding::new(Kind::TableRewrite, "")
        };
        // The largest rewrite over the threshold.
        let rewrite = of_series
            .iter()
            .flat_map(|r| r.measurement.tables.iter().map(move |t| (r, t)))
            .filter(|(_, t)| t.rewritten && t.bytes_before as u64 >= thresholds.rewrite_bytes)
            .max_by_key(|(r, t)| (r.rows, t.bytes_before));
        if let Some((run, table)) = rewrite {
            findings.push(Finding {
                message: format!(
                    "rewrites {} ({} rows, {} before, {} after) in {:.0} ms: every row is copied while the table is locked",
                    table.table,
                    run.rows,
                    human_bytes(table.bytes_before),
                    human_bytes(table.bytes_after),
                    run.measurement.wall.as_secs_f64() * 1e3
                ),
                ..base.clone()
            });
        }
        let held: Vec<(u64, Duration)> = of_series
            .iter()
            .filter_map(|r| r.measurement.exclusive.map(|d| (r.rows, d)))
            .collect();
        let Some(&(rows, longest)) = held.iter().max_by_key(|(rows, _)| *rows) else {
            continue;
        };
        if longest > thresholds.lock_budget {
            findings.push(Finding {
                kind: Kind::LongExclusiveLock,
                message: format!(
                    "holds ACCESS EXCLUSIVE for {:.0} ms at {rows} rows (budget {:.0} ms): reads and writes of the table wait that long",
                    longest.as_secs_f64() * 1e3,
                    thresholds.lock_budget.as_secs_f64() * 1e3
                ),
                ..base.clone()
            });
        } else if matches!(series.growth, Growth::Linear | Growth::Superlinear)
            && rows < thresholds.project_rows
        {
            let projected = longest.mul_f64(thresholds.project_rows as f64 / rows.max(1) as f64);
            if projected > thresholds.lock_budget {
                findings.push(Finding {
                    kind: Kind::LongExclusiveLock,
                        severity: Severity::Warning,
                    message: format!(
                        "holds ACCESS EXCLUSIVE for a time {} in the rows ({:.0} ms at {rows}); at {} rows that is about {:.1} s (budget {:.1} s)",
                        series.growth.as_str(),
                        longest.as_secs_f64() * 1e3,
                        thresholds.project_rows,
                        projected.as_secs_f64(),
                        thresholds.lock_budget.as_secs_f64()
                    ),
                    ..base.clone()
                });
            }
        }
    }
    findings
}
