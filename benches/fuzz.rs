//! Fuzz throughput: legacy-state cases per second on a 12-migration set
//! (`scenarios/ok/billing-history`), with the cheapest sandbox (a rolled-back
//! transaction per case, two at a time), against the same cases with a
//! template clone per case and with a fresh cluster per case, in one run.
//! Timed: the cases alone, as `migcheck fuzz` reports them (reading the
//! history and shrinking the set's few findings are left out; the cluster
//! baseline counts its server's start).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use migcheck::fuzz::{self, Options, Shard};
use migcheck::pipeline;
use migcheck::sandbox::{SandboxChoice, Timeouts};

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
    let scenario = benches::billing_history();
    let server = benches::local_server();
    let runtime = benches::runtime();
    let mut group = c.benchmark_group("fuzz-12-migrations");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    // Two workers a core, as `migcheck fuzz` defaults to on 2 cores.
    let runs = [
        ("transaction-per-case", 300, 3, SandboxChoice::Transaction),
        ("template-clone-per-case", 30, 3, SandboxChoice::Template),
    ];
    for (name, cases, jobs, sandbox) in runs {
        let options = options(cases, jobs, sandbox);
        let prepared = pipeline::prepare(&scenario, &[], sandbox).expect("the set loads");
        group.throughput(Throughput::Elements(cases));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let fuzzed =
                            fuzz::run(&server, &runtime, &prepared, &options).expect("fuzz runs");
                        assert_eq!(fuzzed.cases, cases);
                        fuzzed.cases_took
                    })
                    .sum()
            })
        });
    }
    // The naive baseline: a new cluster for each case (started from the
    // cached initdb copy, the fastest this backend can).
    let one = options(1, 1, SandboxChoice::Transaction);
    let prepared =
        pipeline::prepare(&scenario, &[], SandboxChoice::Transaction).expect("the set loads");
    group.throughput(Throughput::Elements(1));
    group.bench_function("cluster-per-case", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let started = Instant::now();
                    let server = benches::local_server();
                    let fuzzed = fuzz::run(&server, &runtime, &prepared, &one).expect("fuzz runs");
                    assert_eq!(fuzzed.cases, 1);
                    // The start, and the case; not the history or shrinking.
                    let start = started.elapsed() - fuzzed.elapsed;
                    start + fuzzed.cases_took
                })
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, fuzz_throughput);
criterion_main!(benches);
