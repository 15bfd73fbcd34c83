//! Growth of each statement's time with the number of rows, and the
//! bench's findings: `table-rewrite` (a table over the size threshold was
//! rewritten) and `long-exclusive-lock` (ACCESS EXCLUSIVE held longer than
//! the budget at a measured size, or, for a statement linear in N, at the
//! projected size). Pure: from runs to judgements.

use std::time::Duration;

use super::Run;
use super::measure::ACCESS_EXCLUSIVE;
use crate::finding::{Finding, Kind, Severity};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Thresholds {
    /// ACCESS EXCLUSIVE held longer than this is `long-exclusive-lock`.
    #[serde(serialize_with = "super::ms")]
    pub lock_budget: Duration,
    /// Rewrites of tables at least this large (bytes) are `table-rewrite`.
    pub rewrite_bytes: u64,
    /// The table size a linear statement's lock is projected to.
    pub project_rows: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            lock_budget: Duration::from_secs(2),
            rewrite_bytes: 8 << 20,
            project_rows: 10_000_000,
        }
    }
}

/// How time grows with N, from the log-log slope between the smallest
/// and the largest size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Growth {
    /// One size only, or sizes too close to tell.
    Unknown,
    Constant,
    Linear,
    Superlinear,
}

impl Growth {
    pub fn as_str(self) -> &'static str {
        match self {
            Growth::Unknown => "unknown",
            Growth::Constant => "constant",
            Growth::Linear => "linear",
            Growth::Superlinear => "superlinear",
        }
    }
}

/// One statement's times against N on one server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Series {
    pub postgres: String,
    pub migration: String,
    pub statement: usize,
    pub line: usize,
    pub sql: String,
    /// (rows, wall milliseconds), by rows.
    pub points: Vec<(u64, f64)>,
    pub growth: Growth,
    /// Whether the statement took ACCESS EXCLUSIVE at any size.
    pub exclusive: bool,
    /// Whether it rewrote a table at any size.
    pub rewrites: bool,
}

pub fn growth(points: &[(u64, f64)]) -> Growth {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Growth::Unknown;
    };
    let n_ratio = last.0 as f64 / first.0.max(1) as f64;
    if n_ratio < 3.0 {
        return Growth::Unknown;
    }
    // Times of a few milliseconds are mostly round trip and noise; floor
    // them so a statement that stays tiny reads as constant.
    let t_ratio = last.1.max(2.0) / first.1.max(2.0);
    let slope = t_ratio.ln() / n_ratio.ln();
    if slope < 0.3 {
        Growth::Constant
    } else if slope < 1.4 {
        Growth::Linear
    } else {
        Growth::Superlinear
    }
}

/// The runs grouped per server and statement, in the order they ran.
pub fn series(runs: &[Run]) -> Vec<Series> {
    let mut all: Vec<Series> = Vec::new();
    for run in runs {
        let at = all.iter().position(|s| {
            s.postgres == run.postgres
                && s.migration == run.migration
                && s.statement == run.statement
        });
        let series = match at {
            Some(at) => &mut all[at],
            None => {
                all.push(Series {
                    postgres: run.postgres.clone(),
                    migration: run.migration.clone(),
                    statement: run.statement,
                    line: run.line,
                    sql: run.sql.clone(),
                    points: Vec::new(),
                    growth: Growth::Unknown,
                    exclusive: false,
                    rewrites: false,
                });
                all.last_mut().expect("just pushed")
            }
        };
        let m = &run.measurement;
        series.points.push((run.rows, m.wall.as_secs_f64() * 1e3));
        series.exclusive |= m.locks.iter().any(|l| l.mode == ACCESS_EXCLUSIVE);
        series.rewrites |= m.tables.iter().any(|t| t.rewritten);
    }
    for series in &mut all {
        series.points.sort_by_key(|p| p.0);
        series.growth = growth(&series.points);
    }
    all
}

pub fn findings(set: &str, runs: &[Run], thresholds: &Thresholds) -> Vec<Finding> {
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
                check: Kind::LongExclusiveLock.check(),
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
                    check: Kind::LongExclusiveLock.check(),
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

pub fn human_bytes(bytes: i64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.1} MB", b / (1u64 << 20) as f64)
    } else if b >= 1024.0 {
        format!("{:.0} kB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(points: &[(u64, f64)], expected: Growth) {
        assert_eq!(growth(points), expected, "points {points:?}");
    }

    #[test]
    fn growth_from_the_ends_of_the_series() {
        check(
            &[(10_000, 1.0), (100_000, 1.2), (1_000_000, 1.1)],
            Growth::Constant,
        );
        check(
            &[(10_000, 10.0), (100_000, 95.0), (1_000_000, 1100.0)],
            Growth::Linear,
        );
        check(
            &[(10_000, 1.0), (1_000_000, 100_000.0)],
            Growth::Superlinear,
        );
        check(&[(10_000, 0.1), (1_000_000, 0.3)], Growth::Constant);
        check(&[(10_000, 10.0)], Growth::Unknown);
        check(&[(10_000, 10.0), (20_000, 20.0)], Growth::Unknown);
    }
}
