//! Writes one generated history to a directory, for running migcheck on it
//! by hand:
//!
//! ```text
//! cargo run -p generators --example render -- <seed> <correct|KIND> <dir> [--older-table]
//! migcheck verify <dir>/scenario.yaml
//! ```
//!
//! `KIND` is a defect's finding kind (`rerun-failed`, ...). The plan is the
//! first one a proptest runner seeded with `<seed>` draws. `--older-table`
//! adds the legacy state `Plan::older_first_table` (which
//! `diverges-from-fresh` needs to show).

use std::path::Path;

use generators::history::{Defect, plans, render};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (seed, which, dir, older) = match args.as_slice() {
        [seed, which, dir] => (seed, which, dir, false),
        [seed, which, dir, flag] if flag == "--older-table" => (seed, which, dir, true),
        _ => return Err("usage: render <seed> <correct|KIND> <dir> [--older-table]".into()),
    };
    let seed: u64 = seed.parse().map_err(|e| format!("seed {seed}: {e}"))?;
    let defect = match which.as_str() {
        "correct" => None,
        kind => Some(Defect::from_kind(kind).ok_or_else(|| {
            let kinds: Vec<&str> = Defect::ALL.iter().map(|d| d.kind()).collect();
            format!("unknown defect {kind}; one of: {}", kinds.join(", "))
        })?),
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let plan = plans()
        .new_tree(&mut runner)
        .map_err(|e| e.to_string())?
        .current();
    let rendered = render(&plan, defect).ok_or("this plan has no place for that defect")?;
    let dir = Path::new(dir);
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).map_err(|e| format!("{}: {e}", migrations.display()))?;
    for (name, sql) in &rendered.files {
        let path = migrations.join(name);
        std::fs::write(&path, sql).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let scenario = dir.join("scenario.yaml");
    let legacy: Vec<(String, String)> = match older {
        true => plan.older_first_table().into_iter().collect(),
        false => Vec::new(),
    };
    std::fs::write(
        &scenario,
        rendered.scenario_yaml_with_legacy("migrations", &legacy),
    )
    .map_err(|e| format!("{}: {e}", scenario.display()))?;
    println!("{}", scenario.display());
    Ok(())
}
