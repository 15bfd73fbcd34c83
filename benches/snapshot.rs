//! The cost of a schema snapshot on schemas of 10, 100 and 1000 tables
//! (`benches::application_schema`), next to `pg_dump --schema-only` of
//! the same databases in the same run, so the ratio is measured here, not
//! quoted. Targets (product.md): ≤ 30 ms for 100 tables, ≤ 150 ms for
//! 1000, and ≥ 3× faster than pg_dump.
//!
//! `snapshot/N` opens a new connection per iteration and takes a snapshot,
//! as pg_dump does (a new backend: cold catalog caches, which is what a
//! freshly cloned sandbox sees); `snapshot-warm/N` reuses one connection.

use std::process::Command;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use migcheck::schema;

const SIZES: [usize; 3] = [10, 100, 1000];

fn snapshots(c: &mut Criterion) {
    let server = benches::local_server();
    let runtime = benches::runtime();
    let pg_dump = server.bindir().expect("a local server").join("pg_dump");
    assert!(
        pg_dump.is_file(),
        "{} is missing: the bench compares with the server's own pg_dump",
        pg_dump.display()
    );
    runtime.block_on(async {
        let admin = server.connect("postgres").await.expect("connect");
        for n in SIZES {
            let db = format!("migcheck_bench_snapshot_{n}");
            admin
                .batch_execute(&format!("CREATE DATABASE {db}"))
                .await
                .expect("create database");
            let client = server.connect(&db).await.expect("connect");
            client
                .batch_execute(&benches::application_schema(n))
                .await
                .expect("schema");
        }
    });

    let mut group = c.benchmark_group("snapshot");
    group.sample_size(20);
    for n in SIZES {
        let db = format!("migcheck_bench_snapshot_{n}");
        group.bench_with_input(BenchmarkId::new("snapshot", n), &db, |b, db| {
            b.iter(|| {
                runtime.block_on(async {
                    let client = server.connect(db).await.expect("connect");
                    schema::snapshot(&client).await.expect("snapshot")
                })
            })
        });
        let warm = runtime.block_on(server.connect(&db)).expect("connect");
        group.bench_with_input(BenchmarkId::new("snapshot-warm", n), &db, |b, _| {
            b.iter(|| runtime.block_on(schema::snapshot(&warm)).expect("snapshot"))
        });
        group.bench_with_input(BenchmarkId::new("pg_dump", n), &db, |b, db| {
            b.iter(|| {
                let output = Command::new(&pg_dump)
                    .args([
                        "--schema-only",
                        "--no-owner",
                        "--no-privileges",
                        "-U",
                        "postgres",
                    ])
                    .arg("-h")
                    .arg(server.dir().expect("a local server"))
                    .arg("-p")
                    .arg(server.port().to_string())
                    .arg(db)
                    .output()
                    .expect("run pg_dump");
                assert!(
                    output.status.success(),
                    "pg_dump: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                output.stdout.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, snapshots);
criterion_main!(benches);
