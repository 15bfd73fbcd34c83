//! The bench's report: a table for the terminal, markdown for a pull
//! request, JSON (the `version`/`ok`/`summary`/`findings` object of every
//! migcheck report, with a `bench` member). Rendering is deterministic
//! for given measurements.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::scaling::{Series, Thresholds, human_bytes};
use super::{BenchError, LoadRun, Run};
use crate::finding::{Finding, Severity};
use crate::postgres::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BenchFormat {
    #[default]
    Human,
    Json,
    Markdown,
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub set: String,
    pub postgres: Vec<String>,
    pub rows: Vec<u64>,
    pub load: bool,
    pub loads: Vec<LoadRun>,
    pub runs: Vec<Run>,
    pub statements: Vec<Series>,
    pub findings: Vec<Finding>,
    pub thresholds: Thresholds,
    pub duration: Duration,
}

impl BenchReport {
    /// The row counts benched, as the human and markdown headers list them.
    fn rows_list(&self) -> String {
        let rows: Vec<String> = self.rows.iter().map(u64::to_string).collect();
        rows.join(", ")
    }

    /// 1 when a finding is an error, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.findings.iter().any(Finding::fails_run))
    }

    pub fn render(&self, format: BenchFormat) -> String {
        match format {
            BenchFormat::Human => self.human(),
            BenchFormat::Json => self.json(),
            BenchFormat::Markdown => self.markdown(),
        }
    }

    /// migcheck's overhead over psql: the median of migcheck's time over
    /// psql's, per statement run that has both (statements of at least
    /// 20 ms, where a ratio means something).
    pub fn psql_overhead(&self) -> Option<f64> {
        let mut ratios: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|r| {
                let psql = r.psql?;
                (psql >= Duration::from_millis(20))
                    .then(|| r.measurement.wall.as_secs_f64() / psql.as_secs_f64() - 1.0)
            })
            .collect();
        if ratios.is_empty() {
            return None;
        }
        ratios.sort_by(f64::total_cmp);
        Some(ratios[ratios.len() / 2])
    }

    fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "bench {} on {} ({} rows per table{})",
            self.set,
            self.postgres.join(", "),
            self.rows_list(),
            if self.load { ", under load" } else { "" }
        );
        for load in &self.loads {
            let rows: u64 = load.tables.iter().map(|t| t.rows).sum();
            let secs: f64 = load.tables.iter().map(|t| t.duration.as_secs_f64()).sum();
            let _ = writeln!(
                out,
                "  load  pg {:<6} {:>9} rows/table  {} tables  {:.2} s  {:.0} rows/s",
                load.postgres,
                load.rows,
                load.tables.len(),
                secs,
                rows as f64 / secs.max(1e-9)
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<7} {:<34} {:>9} {:>10} {:>10} {:<8} {:<22} locks",
            "pg", "statement", "rows", "time ms", "AccEx ms", "rewrite", "size"
        );
        for run in &self.runs {
            let m = &run.measurement;
            let rewrite = m.tables.iter().any(|t| t.rewritten);
            let size = m
                .tables
                .iter()
                .filter(|t| t.bytes_before != t.bytes_after || t.rewritten)
                .map(|t| {
                    format!(
                        "{}→{}",
                        human_bytes(t.bytes_before),
                        human_bytes(t.bytes_after)
                    )
                })
                .next()
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "  {:<7} {:<34} {:>9} {:>10.1} {:>10} {:<8} {:<22} {}",
                run.postgres,
                clip(
                    &format!(
                        "{}#{} {}",
                        short(&run.migration),
                        run.statement,
                        one_line(&run.sql)
                    ),
                    34
                ),
                run.rows,
                m.wall.as_secs_f64() * 1e3,
                m.exclusive
                    .map_or_else(|| "-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3)),
                if rewrite { "yes" } else { "no" },
                size,
                locks(run)
            );
            if let Some(load) = &m.load {
                let _ = writeln!(
                    out,
                    "  {:<7} {:<34} writer blocked {:.0} ms ({} ops), reader blocked {:.0} ms ({} ops) on {}",
                    "",
                    "  under load:",
                    load.writer.blocked.as_secs_f64() * 1e3,
                    load.writer.ops,
                    load.reader.blocked.as_secs_f64() * 1e3,
                    load.reader.ops,
                    load.table
                );
            }
            if let Some(psql) = run.psql {
                let _ = writeln!(
                    out,
                    "  {:<7} {:<34} psql {:.1} ms",
                    "",
                    "",
                    psql.as_secs_f64() * 1e3
                );
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "  growth with rows:");
        for s in &self.statements {
            let _ = writeln!(
                out,
                "  {:<7} {:<34} {}{}",
                s.postgres,
                clip(
                    &format!(
                        "{}#{} {}",
                        short(&s.migration),
                        s.statement,
                        one_line(&s.sql)
                    ),
                    34
                ),
                s.growth.as_str(),
                if s.exclusive && s.growth != super::scaling::Growth::Constant {
                    " while holding ACCESS EXCLUSIVE"
                } else {
                    ""
                }
            );
        }
        if self.postgres.len() > 1 {
            let _ = writeln!(out, "\n  side by side (ms, * = table rewritten):");
            for line in self.side_by_side("").lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(overhead) = self.psql_overhead() {
            let _ = writeln!(
                out,
                "\n  overhead over psql (median): {:+.1}%",
                overhead * 100.0
            );
        }
        let _ = writeln!(out);
        for f in &self.findings {
            let _ = writeln!(
                out,
                "  {} {} [pg {}] {}:{}: {}",
                match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                f.kind,
                f.postgres,
                f.migration.as_deref().unwrap_or("?"),
                f.line.unwrap_or(0),
                f.message
            );
        }
        let _ = writeln!(
            out,
            "{} finding(s) in {:.1} s",
            self.findings.len(),
            self.duration.as_secs_f64()
        );
        out
    }

    /// Each statement and size in a row, one column per server: time in
    /// ms, `*` when the statement rewrote a table there. With `sep` "|"
    /// a markdown table, else aligned text.
    fn side_by_side(&self, sep: &str) -> String {
        let mut keys: Vec<(&str, usize, u64, &str)> = Vec::new();
        for run in &self.runs {
            let key = (
                run.migration.as_str(),
                run.statement,
                run.rows,
                run.sql.as_str(),
            );
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let markdown = sep == "|";
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut header = vec!["statement".to_owned(), "rows".to_owned()];
        header.extend(self.postgres.iter().map(|p| format!("pg {p}")));
        rows.push(header);
        for (migration, statement, n, sql) in keys {
            let mut row = vec![
                clip(
                    &format!("{}#{statement} {}", short(migration), one_line(sql)),
                    40,
                ),
                n.to_string(),
            ];
            for postgres in &self.postgres {
                let cell = self
                    .runs
                    .iter()
                    .find(|r| {
                        r.postgres == *postgres
                            && r.migration == migration
                            && r.statement == statement
                            && r.rows == n
                    })
                    .map_or_else(
                        || "-".to_owned(),
                        |r| {
                            let rewrite = r.measurement.tables.iter().any(|t| t.rewritten);
                            format!(
                                "{:.1}{}",
                                r.measurement.wall.as_secs_f64() * 1e3,
                                if rewrite { " *" } else { "" }
                            )
                        },
                    );
                row.push(cell);
            }
            rows.push(row);
        }
        let mut out = String::new();
        if markdown {
            for (i, row) in rows.iter().enumerate() {
                let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
                if i == 0 {
                    let _ = writeln!(out, "|{}", "---|".repeat(row.len()));
                }
            }
        } else {
            let widths: Vec<usize> = (0..rows[0].len())
                .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
                .collect();
            for row in &rows {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                let _ = writeln!(out, "{}", cells.join("  ").trim_end());
            }
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### migcheck bench: `{}`\n", self.set);
        let _ = writeln!(
            out,
            "Postgres {}; rows per table: {}{}.\n",
            self.postgres.join(", "),
            self.rows_list(),
            if self.load { "; under load" } else { "" }
        );
        let _ = writeln!(
            out,
            "| pg | migration | statement | rows | time (ms) | ACCESS EXCLUSIVE (ms) | rewrite | writer blocked (ms) | locks |"
        );
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---|---:|---|");
        for run in &self.runs {
            let m = &run.measurement;
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {:.1} | {} | {} | {} | {} |",
                run.postgres,
                run.migration,
                clip(&one_line(&run.sql), 60).replace('|', "\\|"),
                run.rows,
                m.wall.as_secs_f64() * 1e3,
                m.exclusive
                    .map_or_else(|| "-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3)),
                if m.tables.iter().any(|t| t.rewritten) {
                    "**yes**"
                } else {
                    "no"
                },
                m.load.as_ref().map_or_else(
                    || "-".into(),
                    |l| format!("{:.0}", l.writer.blocked.as_secs_f64() * 1e3)
                ),
                locks(run)
            );
        }
        if self.postgres.len() > 1 {
            let _ = writeln!(out, "\n{}", self.side_by_side("|"));
        }
        let _ = writeln!(out, "\n| pg | statement | growth |\n|---|---|---|");
        for s in &self.statements {
            let _ = writeln!(
                out,
                "| {} | {}#{} `{}` | {} |",
                s.postgres,
                s.migration,
                s.statement,
                clip(&one_line(&s.sql), 60).replace('|', "\\|"),
                s.growth.as_str()
            );
        }
        if !self.findings.is_empty() {
            let _ = writeln!(out);
            for f in &self.findings {
                let _ = writeln!(
                    out,
                    "- **{}** `{}` (pg {}) {} line {}: {}",
                    f.kind,
                    match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    },
                    f.postgres,
                    f.migration.as_deref().unwrap_or("?"),
                    f.line.unwrap_or(0),
                    f.message
                );
            }
        }
        out
    }

    fn json(&self) -> String {
        let value = serde_json::json!({
            "version": 1,
            "ok": self.exit_code() == 0,
            "summary": {
                "scenarios": 1,
                "cases": self.runs.len(),
                "findings": self.findings.len(),
                "postgres": self.postgres,
                "duration_ms": self.duration.as_millis() as u64,
            },
            "findings": self.findings,
            "bench": {
                "set": self.set,
                "rows": self.rows,
                "load": self.load,
                "thresholds": self.thresholds,
                "loads": self.loads,
                "runs": self.runs,
                "statements": self.statements,
                "psql_overhead": self.psql_overhead(),
            },
        });
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }
}

fn locks(run: &Run) -> String {
    let mut parts: Vec<String> = run
        .measurement
        .locks
        .iter()
        .map(|l| format!("{} {}", l.relation, l.mode.trim_end_matches("Lock")))
        .collect();
    parts.dedup();
    parts.join(", ")
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn short(migration: &str) -> &str {
    migration.split(['_', '.']).next().unwrap_or(migration)
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

/// The time psql reports (`\timing`) for `sql` on `database`.
pub(super) fn psql_time(
    server: &Server,
    psql: &Path,
    database: &str,
    sql: &str,
) -> Result<Duration, BenchError> {
    let config = server.config(database);
    let mut command = std::process::Command::new(psql);
    command.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "\\timing on",
        "-c",
        sql,
    ]);
    for host in config.get_hosts() {
        match host {
            tokio_postgres::config::Host::Tcp(h) => command.env("PGHOST", h),
            tokio_postgres::config::Host::Unix(p) => command.env("PGHOST", p),
        };
    }
    if let Some(port) = config.get_ports().first() {
        command.env("PGPORT", port.to_string());
    }
    if let Some(user) = config.get_user() {
        command.env("PGUSER", user);
    }
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", String::from_utf8_lossy(password).into_owned());
    }
    command.env("PGDATABASE", database);
    let failed = |message: String| BenchError::Sql {
        action: format!("{} -c {sql}", psql.display()),
        message,
    };
    let output = command.output().map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    // "Time: 12.345 ms" (and " (00:01.234)" past a second).
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ms| Duration::from_secs_f64(ms / 1e3))
        .next_back()
        .ok_or_else(|| failed(format!("no `Time:` line in psql's output: {stdout}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::{Measurement, TableChange};

    fn run(postgres: &str, migration: &str, rows: u64, ms: u64, rewritten: bool) -> Run {
        Run {
            postgres: postgres.into(),
            migration: migration.into(),
            statement: 1,
            line: 2,
            sql: format!("ALTER TABLE t -- {migration}"),
            rows,
            measurement: Measurement {
                wall: Duration::from_millis(ms),
                locks: Vec::new(),
                exclusive: None,
                lock_source: "exact",
                tables: vec![TableChange {
                    table: "public.t".into(),
                    rewritten,
                    bytes_before: 1,
                    bytes_after: 1,
                }],
                load: None,
            },
            psql: None,
        }
    }

    #[test]
    fn versions_side_by_side() {
        let runs = vec![
            run("10.23", "002_flag.sql", 1000, 30, true),
            run("17.2", "002_flag.sql", 1000, 1, false),
        ];
        let report = BenchReport {
            set: "s".into(),
            postgres: vec!["10.23".into(), "17.2".into()],
            rows: vec![1000],
            load: false,
            loads: Vec::new(),
            statements: crate::bench::scaling::series(&runs),
            runs,
            findings: Vec::new(),
            thresholds: Default::default(),
            duration: Duration::ZERO,
        };
        assert_eq!(
            report.side_by_side("|"),
            "| statement | rows | pg 10.23 | pg 17.2 |\n|---|---|---|---|\n\
             | 002#1 ALTER TABLE t -- 002_flag.sql | 1000 | 30.0 * | 1.0 |\n"
        );
        assert!(report.render(BenchFormat::Human).contains("side by side"));
    }
}
