//! How the cost of `migcheck check --runner tracked` with the default
//! checks grows with the size of a set: generated golang-migrate sets
//! (`benches::generated_set`) of 50, 100, 200 and 400 migrations, each run
//! through the pipeline on a running local server, as `verify` does. If a
//! check's work is linear in the number of migrations, doubling the set
//! doubles its time; a check that replays the history from every version
//! quadruples it.
//!
//! One run of the larger sets takes minutes, so each size is sampled the
//! fewest times criterion allows (10, after one warm-up run);
//! `cargo bench --bench set_scaling -- --quick` takes one run per size, and
//! `MIGCHECK_BENCH_SET_SIZES=50,100` runs only the sizes it lists.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use migcheck::finding::Check;
use migcheck::migrations::Format;
use migcheck::pipeline;
use migcheck::runner::RunnerMode;
use migcheck::sandbox::{SandboxChoice, Timeouts};
use migcheck::scenario::Scenario;

const SIZES: [usize; 4] = [50, 100, 200, 400];

fn sizes() -> Vec<usize> {
    benches::sizes("MIGCHECK_BENCH_SET_SIZES", &SIZES)
}

fn check_tracked(c: &mut Criterion) {
    let server = benches::local_server();
    let runtime = benches::runtime();
    let mut group = benches::few_samples(c, "set_scaling");
    for n in sizes() {
        let dir = tempfile::tempdir().expect("a temp dir");
        benches::generated_set(n, dir.path()).expect("write the set");
        let scenario = Scenario {
            runner: RunnerMode::Tracked,
            ..Scenario::ad_hoc(dir.path(), Format::Auto)
        };
        group.bench_with_input(BenchmarkId::new("check-tracked", n), &scenario, |b, s| {
            // Findings are not asserted: what the checks say of these sets
            // is the tests' business; this measures what they cost.
            b.iter(|| {
                runtime
                    .block_on(pipeline::run_scenario(
                        &server,
                        s,
                        &Check::ALL,
                        SandboxChoice::Auto,
                        Timeouts::default(),
                    ))
                    .expect("check runs")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, check_tracked);
criterion_main!(benches);
