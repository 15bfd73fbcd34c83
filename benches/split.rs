//! How the cost of splitting a file into located statements, and of
//! `migcheck lint` on it, grows with the number of its statements:
//! generated files of 2.5k, 5k, 10k, 20k and 40k statements (a seed-sized
//! file: tables, rows, an index, a DO block, comments, lines of every
//! length). Both are linear: doubling the statements doubles the time, and
//! the throughput criterion prints (statements per second) stays flat. It
//! was quadratic once, each statement located by counting lines from the
//! file's start (lint: 0.22, 0.61, 2.0 and 7.3 s at 2.5k to 20k).
//!
//! No server. `MIGCHECK_BENCH_SPLIT_SIZES=2500,5000` runs only the sizes it
//! lists.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use migcheck::migrations::{Format, Script};
use migcheck::pipeline;
use migcheck::scenario::Scenario;

const SIZES: [usize; 5] = [2_500, 5_000, 10_000, 20_000, 40_000];

/// `n` statements (n rounded down to a multiple of 5), in a table of their
/// own for every 5, so that lint has as many tables to track as a real
/// seed file.
fn statements(n: usize) -> String {
    let mut sql = String::from("-- generated: a long seed file\n");
    for i in 0..n / 5 {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS t{i} (id bigint PRIMARY KEY, name text NOT NULL DEFAULT '', note text);\n\
             /* rows */ INSERT INTO t{i} (id, name) VALUES ({i}, 'n{i}'), ({i} + 1, 'é{i}') ON CONFLICT DO NOTHING;\n\
             CREATE INDEX IF NOT EXISTS t{i}_name ON t{i} (name);\n\
             DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM t{i}) THEN INSERT INTO t{i} VALUES ({i}, 'x; y'); END IF; END $$;\n\
             UPDATE t{i}\n   SET note = 'seeded'\n WHERE id = {i};\n"
        ));
    }
    sql
}

fn sizes() -> Vec<usize> {
    benches::sizes("MIGCHECK_BENCH_SPLIT_SIZES", &SIZES)
}

fn split(c: &mut Criterion) {
    let mut group = benches::few_samples(c, "split");
    for n in sizes() {
        let sql = statements(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("parse", n), &sql, |b, sql| {
            b.iter(|| {
                let script = Script::parse(Path::new("seed.sql"), sql.clone()).expect("it parses");
                assert_eq!(script.statements.len(), n / 5 * 5);
                script
            })
        });
    }
    group.finish();
}

fn lint(c: &mut Criterion) {
    let mut group = benches::few_samples(c, "lint");
    for n in sizes() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("001_seed.sql"), statements(n)).expect("write the file");
        let scenario = Scenario::ad_hoc(dir.path(), Format::Plain);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("lint", n), &scenario, |b, s| {
            b.iter(|| pipeline::lint(s).expect("lint runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, split, lint);
criterion_main!(benches);
