//! Time to a first ready server, per backend, each started and removed:
//! a local cluster (copied from the initdb cache), a container (the image
//! `$MIGCHECK_PG_IMAGE`, default the local `migcheck/postgres:15-debian`),
//! and an existing server reached by URL (connect and checks only).
//! Targets (product.md): local ≤ 150 ms; a container as fast as the image
//! allows (≈ 1.1–1.6 s measured for the official image).

use criterion::{Criterion, criterion_group, criterion_main};
use migcheck::postgres::{PgSpec, Server};

fn servers(c: &mut Criterion) {
    let mut group = c.benchmark_group("server");
    group.sample_size(10);
    let local = PgSpec::Local { bindir: None };
    group.bench_function("local", |b| {
        b.iter(|| drop(Server::start(&local, None).expect("a local cluster")))
    });

    let image =
        std::env::var("MIGCHECK_PG_IMAGE").unwrap_or_else(|_| "migcheck/postgres:15-debian".into());
    let container = PgSpec::Container { image: Some(image) };
    group.bench_function("container", |b| {
        b.iter(|| drop(Server::start(&container, None).expect("a container")))
    });

    let existing = Server::start(&local, None).expect("a local cluster to reach by URL");
    // Local servers listen on their private Unix socket only: its
    // directory is the host, percent-encoded.
    let url = format!(
        "dsn:postgres://postgres@{}:{}/postgres",
        existing
            .dir()
            .expect("a local server")
            .display()
            .to_string()
            .replace('/', "%2F"),
        existing.port(),
    );
    let mut dsn: PgSpec = url.parse().expect("a valid URL");
    // The local cluster's superuser: a throwaway server.
    if let PgSpec::Dsn {
        allow_superuser, ..
    } = &mut dsn
    {
        *allow_superuser = true;
    }
    group.bench_function("dsn", |b| {
        b.iter(|| drop(Server::start(&dsn, None).expect("the existing server")))
    });
    group.finish();
}

criterion_group!(benches, servers);
criterion_main!(benches);
