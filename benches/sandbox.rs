//! The cost of getting an isolated schema state, per strategy: a rolled-back
//! transaction, a database cloned from a template, a fresh local cluster.
//! Each sandbox runs the same three DDL statements, as a case would.
//! Targets (product.md): ≤ 2 ms, ≤ 25 ms, ≤ 150 ms median.

use criterion::{Criterion, criterion_group, criterion_main};
use migcheck::sandbox::{Sandboxes, Strategy, Timeouts};

const DDL: &str = "CREATE TABLE bench_a (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE INDEX bench_a_name ON bench_a (name);
ALTER TABLE bench_a ADD COLUMN created_at timestamptz DEFAULT now()";

fn sandboxes(c: &mut Criterion) {
    let server = benches::local_server();
    let runtime = benches::runtime();
    let mut group = c.benchmark_group("sandbox");
    for strategy in [Strategy::Transaction, Strategy::Template] {
        let mut sandboxes = Sandboxes::new(&server, strategy, Timeouts::default());
        group.bench_function(strategy.to_string(), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let sandbox = sandboxes.open().await.expect("open");
                    sandbox.client().batch_execute(DDL).await.expect("ddl");
                    sandboxes.close(sandbox).await.expect("close");
                })
            })
        });
        // The sandbox's own cost, without the work done in it.
        group.bench_function(format!("{strategy}-empty"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let sandbox = sandboxes.open().await.expect("open");
                    sandboxes.close(sandbox).await.expect("close");
                })
            })
        });
        runtime.block_on(sandboxes.shutdown()).expect("shutdown");
    }
    group.sample_size(10);
    group.bench_function("cluster", |b| b.iter(|| drop(benches::local_server())));
    group.finish();
}

criterion_group!(benches, sandboxes);
criterion_main!(benches);
