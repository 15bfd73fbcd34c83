//! Growth of each statement's time with the number of rows, and the
//! thresholds `checks::bench` judges the runs by. Pure.

use std::time::Duration;

use super::Run;
use super::measure::ACCESS_EXCLUSIVE;

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

/// The time in milliseconds at `rows` rows, extrapolated from `points`
/// (by rows) with the growth measured between its ends: a constant stays,
/// a linear one scales with the rows, a superlinear one with its measured
/// slope. `None` when the growth could not be told.
pub fn project(points: &[(u64, f64)], rows: u64) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    let scale = rows as f64 / last.0.max(1) as f64;
    match growth(points) {
        Growth::Unknown => None,
        Growth::Constant => Some(last.1),
        Growth::Linear => Some(last.1 * scale),
        Growth::Superlinear => {
            let slope = (last.1.max(2.0) / first.1.max(2.0)).ln()
                / (last.0 as f64 / first.0.max(1) as f64).ln();
            Some(last.1 * scale.powf(slope))
        }
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

    #[test]
    fn projections_follow_the_growth() {
        let linear = [(1_000, 10.0), (10_000, 100.0)];
        assert_eq!(project(&linear, 1_000_000), Some(10_000.0));
        let constant = [(1_000, 1.0), (10_000, 1.1)];
        assert_eq!(project(&constant, 1_000_000), Some(1.1));
        let squared = [(1_000, 10.0), (10_000, 1_000.0)];
        let at = project(&squared, 100_000).expect("superlinear");
        assert!((at - 100_000.0).abs() < 1.0, "{at}");
        assert_eq!(project(&[(1_000, 10.0)], 1_000_000), None);
    }
}
