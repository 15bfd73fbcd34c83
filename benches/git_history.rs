//! What reading the set's past from git costs `prepare`: a history of 300
//! commits that each add a migration (none is a past version: every one
//! is a prefix of today's set), with git history read and without. No
//! server. Target: under 1 s for the 300 commits.

use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use migcheck::finding::Check;
use migcheck::migrations::Format;
use migcheck::pipeline;
use migcheck::sandbox::SandboxChoice;
use migcheck::scenario::Scenario;

const COMMITS: usize = 300;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn git_history(c: &mut Criterion) {
    let repo = tempfile::Builder::new()
        .prefix("migcheck-bench-")
        .tempdir()
        .expect("temp dir");
    let migrations = repo.path().join("migrations");
    std::fs::create_dir_all(&migrations).expect("mkdir");
    git(repo.path(), &["init", "-q"]);
    for i in 1..=COMMITS {
        let sql = format!("CREATE TABLE IF NOT EXISTS t{i} (id bigint PRIMARY KEY, note text);\n");
        std::fs::write(migrations.join(format!("{i:04}_t{i}.sql")), sql).expect("write");
        git(repo.path(), &["add", "-A"]);
        git(repo.path(), &["commit", "-q", "-m", &format!("t{i}")]);
    }
    let scenario = Scenario::ad_hoc(&migrations, Format::Plain);
    let mut group = c.benchmark_group("git-history");
    group.sample_size(10);
    for (name, limit) in [("300-adding-commits", 50), ("off", 0)] {
        let scenario = Scenario {
            git_history: limit,
            ..scenario.clone()
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let prepared =
                    pipeline::prepare(&scenario, &[Check::Converge], SandboxChoice::Auto)
                        .expect("prepares");
                assert_eq!(
                    prepared.scenario.legacy.len(),
                    0,
                    "adding commits are prefixes"
                );
            })
        });
    }
    group.finish();
}

criterion_group!(benches, git_history);
criterion_main!(benches);
