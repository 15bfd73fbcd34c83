//! Fuzz throughput: legacy-state cases per second on a 12-migration set
//! (`scenarios/ok/billing-history`), with the cheapest sandbox (a rolled-back
//! transaction per case, two at a time), against the same cases with a
//! template clone per case and with a fresh cluster per case, in one run.
//! Each sample is a whole `fuzz::run`: the history is read once per run.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harness::fuzz::{self, Options, Shard};
use harness::postgres::{PgSpec, Server};
use harness::sandbox::{SandboxChoice, Timeouts};
use harness::scenario::Scenario;

fn options(cases: u64, jobs: usize, sandbox: SandboxChoice) -> Options {
    Options {
        cases: Some(cases),
        time: None,
        seed: 1,
        shard: Shard::default(),
        jobs,
        sandbox,
        timeouts: Timeouts::default(),
        emit: None,
        progress: None,
    }
}

fn fuzz_throughput(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ lives in the workspace")
        .join("scenarios/ok/billing-history.yaml");
    let scenario = Scenario::discover(&root)
        .expect("the billing-history scenario")
        .remove(0);
    let local = PgSpec::Local { bindir: None };
    let server = Server::start(&local, None).expect("a local Postgres server");
    let mut group = c.benchmark_group("fuzz-12-migrations");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    let runs = [
        ("transaction-per-case", 200, 2, SandboxChoice::Transaction),
        ("template-clone-per-case", 20, 2, SandboxChoice::Template),
    ];
    for (name, cases, jobs, sandbox) in runs {
        let options = options(cases, jobs, sandbox);
        group.throughput(Throughput::Elements(cases));
        group.bench_function(name, |b| {
            b.iter(|| {
                let fuzzed = fuzz::run(&server, &scenario, &options).expect("fuzz runs");
                assert_eq!(fuzzed.cases, cases);
            })
        });
    }
    // The naive baseline: a new cluster for each case (started from the
    // cached initdb copy, the fastest this backend can).
    let one = options(1, 1, SandboxChoice::Transaction);
    group.throughput(Throughput::Elements(1));
    group.bench_function("cluster-per-case", |b| {
        b.iter(|| {
            let server = Server::start(&local, None).expect("a local Postgres server");
            let fuzzed = fuzz::run(&server, &scenario, &one).expect("fuzz runs");
            assert_eq!(fuzzed.cases, 1);
        })
    });
    group.finish();
}

criterion_group!(benches, fuzz_throughput);
criterion_main!(benches);
