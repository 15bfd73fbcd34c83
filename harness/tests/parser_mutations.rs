//! A mutation fuzzer for the scenario parser and the migration loaders, run
//! as an ordinary test: the bundled scenario files and migrations, mutated
//! byte by byte with a seeded generator, must each give `Ok` or `Err`,
//! never a panic, a hang or a crash of the C parser. More iterations:
//! `MIGCHECK_FUZZ_ITERATIONS=100000 cargo test -p migcheck --test parser_mutations`;
//! another seed: `MIGCHECK_FUZZ_SEED`.

mod common;

use std::path::{Path, PathBuf};

use migcheck::migrations::{Format, MigrationSet};
use migcheck::scenario::Scenario;

/// xorshift64*: deterministic, so a failure names the seed that shows it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that have broken parsers before: nesting, quoting, anchors,
/// dollar quotes, comments, bytes that are not UTF-8.
const TOKENS: &[&[u8]] = &[
    b"[",
    b"{",
    b"]",
    b"}",
    b"'",
    b"\"",
    b"&a ",
    b"*a",
    b": ",
    b"\n- ",
    b"\n  ",
    b"#",
    b"|\n",
    b";",
    b"$$",
    b"$x$",
    b"/*",
    b"*/",
    b"--",
    b"BEGIN",
    b"COMMIT;",
    b"\\",
    b"\0",
    b"\xff",
    b"\xc3",
    b"-- migrate:up\n",
    b"-- migrate:down\n",
    b"-- no-transaction\n",
    b"E'\\",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let times = if rng.below(8) == 0 {
                    1 + rng.below(300)
                } else {
                    1
                };
                for _ in 0..times {
                    data.splice(at..at, token.iter().copied());
                }
            }
            2 if !data.is_empty() => {
                let end = (at + rng.below(64)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + rng.below(64)).min(data.len());
                let copy = data[start..end].to_vec();
                data.splice(at..at, copy);
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn files(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, extension, out);
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_scenarios_and_migrations_are_read_or_refused_never_crash() {
    let corpus = common::workspace().join("scenarios");
    let (mut yaml, mut sql) = (Vec::new(), Vec::new());
    files(&corpus, "yaml", &mut yaml);
    files(&corpus, "sql", &mut sql);
    yaml.sort();
    sql.sort();
    assert!(
        yaml.len() > 10 && sql.len() > 10,
        "the bundled corpus seeds the fuzzer"
    );
    let seeds: Vec<Vec<u8>> = yaml
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let sqls: Vec<Vec<u8>> = sql
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let iterations = setting("MIGCHECK_FUZZ_ITERATIONS", 1000);
    let seed = setting("MIGCHECK_FUZZ_SEED", 0x5eed_1234_abcd_0001);
    let mut rng = Rng(seed);
    let work = tempfile::Builder::new()
        .prefix("migcheck-fuzz-")
        .tempdir()
        .expect("temp dir");
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..iterations {
        // A scenario file next to a migration directory it may name.
        let case = work.path().join(format!("case{}", i % 4));
        let _ = std::fs::remove_dir_all(&case);
        std::fs::create_dir_all(case.join("migrations")).expect("mkdir");
        let pick = rng.below(seeds.len());
        let scenario = mutate(&mut rng, &seeds[pick]);
        let file = case.join("s.yaml");
        std::fs::write(&file, &scenario).expect("write");
        let pick = rng.below(sqls.len());
        let sql = mutate(&mut rng, &sqls[pick]);
        let names = ["001_a.sql", "1_a.up.sql", "V1__a.sql", "20240101_a.sql"];
        let name = names[rng.below(names.len())];
        std::fs::write(case.join("migrations").join(name), &sql).expect("write");
        let loaded = Scenario::load(&file, "s".into());
        let set = MigrationSet::load(&case.join("migrations"), Format::Auto);
        match (&loaded, &set) {
            (Ok(_), Ok(_)) => accepted += 1,
            _ => refused += 1,
        }
        // Errors render (Display walks the causes) without panicking.
        if let Err(e) = loaded {
            assert!(!e.to_string().is_empty(), "seed {seed:#x}, iteration {i}");
        }
        if let Err(e) = set {
            assert!(!e.to_string().is_empty(), "seed {seed:#x}, iteration {i}");
        }
    }
    // Both outcomes must occur, or the mutations are too weak (or too
    // strong) to exercise the parsers.
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}"
    );
}
