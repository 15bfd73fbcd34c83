//! The cost of verifying one 12-migration set with every check
//! (`scenarios/ok/billing-history`: fresh, rerun, converge from every
//! earlier version, expectations, lint, rollback, faults) on a running
//! local server, so that a regression in migcheck's own work shows.
//! Benched alone; the server's start is not part of it (see `servers`).

use criterion::{Criterion, criterion_group, criterion_main};
use migcheck::finding::Check;
use migcheck::pipeline;
use migcheck::sandbox::{SandboxChoice, Timeouts};

fn verify_twelve_migrations(c: &mut Criterion) {
    let scenario = benches::billing_history();
    let server = benches::local_server();
    let runtime = benches::runtime();
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.bench_function("billing-history-12-migrations", |b| {
        b.iter(|| {
            let result = runtime
                .block_on(pipeline::run_scenario(
                    &server,
                    &scenario,
                    &Check::ALL,
                    SandboxChoice::Auto,
                    Timeouts::default(),
                ))
                .expect("verify runs");
            assert!(
                result.findings.iter().all(|f| !f.fails_run()),
                "billing-history is an ok scenario"
            );
        })
    });
    group.finish();
}

criterion_group!(benches, verify_twelve_migrations);
criterion_main!(benches);
