//! A mutation fuzzer for the scenario parser and the migration loaders, run
//! as an ordinary test: the bundled scenario files and migrations, mutated
//! byte by byte (edits drawn by proptest strategies), must each give `Ok`
//! or `Err`, never a panic, a hang or a crash of the C parser.
//!
//! Each run draws new cases, except under `PROPTEST_RNG_SEED` (which
//! `cargo xtask test` fixes under CI) or `MIGCHECK_FUZZ_SEED`; a failure
//! prints the seed that reproduces it and the shrunk input. More cases:
//! `MIGCHECK_FUZZ_ITERATIONS=100000 cargo test -p migcheck --release --test parser_mutations`.

mod common;

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};

use migcheck::migrations::{Format, MigrationSet};
use migcheck::scenario::Scenario;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};

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

/// How a migration file may be named: one name per layout that reads a
/// single file.
const NAMES: &[&str] = &["001_a.sql", "1_a.up.sql", "V1__a.sql", "20240101_a.sql"];

/// One edit of a file's bytes; positions are resolved against the bytes
/// the edits before it left, so they shrink with them.
#[derive(Clone, Debug)]
enum Edit {
    FlipBit {
        at: Index,
        bit: u8,
    },
    Insert {
        at: Index,
        token: &'static [u8],
        times: usize,
    },
    Delete {
        at: Index,
        len: usize,
    },
    Duplicate {
        at: Index,
        from: Index,
        len: usize,
    },
    Truncate {
        at: Index,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Edit::FlipBit { at, bit }),
        (
            any::<Index>(),
            select(TOKENS),
            // Now and then many times: deep nesting, long runs.
            prop_oneof![7 => Just(1usize), 1 => 1..=300usize],
        )
            .prop_map(|(at, token, times)| Edit::Insert { at, token, times }),
        (any::<Index>(), 0..64usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<Index>(), any::<Index>(), 0..64usize).prop_map(|(at, from, len)| Edit::Duplicate {
            at,
            from,
            len
        }),
        any::<Index>().prop_map(|at| Edit::Truncate { at }),
    ]
}

/// `input` with `edits` applied in order.
fn mutate(input: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut data = input.to_vec();
    for edit in edits {
        let len = data.len();
        match edit {
            Edit::Insert { at, token, times } => {
                let at = at.index(len + 1);
                data.splice(at..at, token.repeat(*times));
            }
            // The other edits need a byte to work on.
            _ if data.is_empty() => {}
            Edit::FlipBit { at, bit } => data[at.index(len)] ^= 1 << bit,
            Edit::Delete { at, len: n } => {
                let at = at.index(len + 1);
                data.drain(at..(at + n).min(len));
            }
            Edit::Duplicate { at, from, len: n } => {
                let start = from.index(len);
                let copy = data[start..(start + n).min(len)].to_vec();
                let at = at.index(len + 1);
                data.splice(at..at, copy);
            }
            Edit::Truncate { at } => data.truncate(at.index(len + 1)),
        }
    }
    data
}

/// One case: a bundled scenario file and a bundled migration, each by its
/// place in the sorted corpus, with their edits, and the migration's name.
#[derive(Clone, Debug)]
struct Case {
    scenario: usize,
    scenario_edits: Vec<Edit>,
    migration: usize,
    migration_edits: Vec<Edit>,
    name: &'static str,
}

fn case(scenarios: usize, migrations: usize) -> impl Strategy<Value = Case> {
    (
        0..scenarios,
        vec(edit(), 1..=4),
        0..migrations,
        vec(edit(), 1..=4),
        select(NAMES),
    )
        .prop_map(
            |(scenario, scenario_edits, migration, migration_edits, name)| Case {
                scenario,
                scenario_edits,
                migration,
                migration_edits,
                name,
            },
        )
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

/// The bundled corpus: paths and contents, sorted by path.
struct Corpus {
    scenarios: Vec<(PathBuf, Vec<u8>)>,
    migrations: Vec<(PathBuf, Vec<u8>)>,
}

impl Corpus {
    fn load() -> Corpus {
        let dir = common::workspace().join("scenarios");
        let read = |extension: &str| {
            let mut paths = Vec::new();
            files(&dir, extension, &mut paths);
            paths.sort();
            paths
                .into_iter()
                .map(|p| {
                    let bytes = std::fs::read(&p).expect("read");
                    (p, bytes)
                })
                .collect::<Vec<_>>()
        };
        Corpus {
            scenarios: read("yaml"),
            migrations: read("sql"),
        }
    }

    /// The case's two files, mutated.
    fn mutated(&self, case: &Case) -> (Vec<u8>, Vec<u8>) {
        (
            mutate(&self.scenarios[case.scenario].1, &case.scenario_edits),
            mutate(&self.migrations[case.migration].1, &case.migration_edits),
        )
    }

    /// What a failing case is, for the failure message.
    fn describe(&self, case: &Case) -> String {
        let (scenario, sql) = self.mutated(case);
        let root = common::workspace();
        let name = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
        format!(
            "s.yaml, mutated from {}:\n{}\nmigrations/{}, mutated from {}:\n{}",
            name(&self.scenarios[case.scenario].0),
            scenario.escape_ascii(),
            case.name,
            name(&self.migrations[case.migration].0),
            sql.escape_ascii()
        )
    }
}

fn setting(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

#[test]
fn mutated_scenarios_and_migrations_are_read_or_refused_never_crash() {
    let corpus = Corpus::load();
    assert!(
        corpus.scenarios.len() > 10 && corpus.migrations.len() > 10,
        "the bundled corpus seeds the fuzzer"
    );
    let iterations = setting("MIGCHECK_FUZZ_ITERATIONS").unwrap_or(1000);
    let mut config = Config {
        cases: u32::try_from(iterations).expect("MIGCHECK_FUZZ_ITERATIONS fits in 32 bits"),
        failure_persistence: None,
        ..Config::default()
    };
    // A seed of our own when none is given, so that a failure can name it.
    let seed = setting("MIGCHECK_FUZZ_SEED").unwrap_or(match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => RandomState::new().hash_one("migcheck"),
    });
    config.rng_seed = RngSeed::Fixed(seed);
    let work = tempfile::Builder::new()
        .prefix("migcheck-fuzz-")
        .tempdir()
        .expect("temp dir");
    let (accepted, refused) = (Cell::new(0), Cell::new(0));
    let result = TestRunner::new(config).run(
        &case(corpus.scenarios.len(), corpus.migrations.len()),
        |case| {
            // A scenario file next to a migration directory it may name.
            let dir = work.path().join("case");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("migrations")).expect("mkdir");
            let (scenario, sql) = corpus.mutated(&case);
            let file = dir.join("s.yaml");
            std::fs::write(&file, &scenario).expect("write");
            std::fs::write(dir.join("migrations").join(case.name), &sql).expect("write");
            let loaded = Scenario::load(&file, "s".into());
            let set = MigrationSet::load(&dir.join("migrations"), Format::Auto);
            match (&loaded, &set) {
                (Ok(_), Ok(_)) => accepted.set(accepted.get() + 1),
                _ => refused.set(refused.get() + 1),
            }
            // Errors render (Display walks the causes) without panicking.
            if let Err(e) = loaded {
                prop_assert!(!e.to_string().is_empty(), "the scenario's error is empty");
            }
            if let Err(e) = set {
                prop_assert!(!e.to_string().is_empty(), "the migrations' error is empty");
            }
            Ok(())
        },
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => panic!(
            "{reason}\nMIGCHECK_FUZZ_SEED={seed} MIGCHECK_FUZZ_ITERATIONS={iterations} reproduces it; \
             keep the shrunk case below as a test in harness/tests/hostile.rs:\n{}",
            corpus.describe(&case)
        ),
        Err(TestError::Abort(reason)) => panic!("{reason} (MIGCHECK_FUZZ_SEED={seed})"),
    }
    // Both outcomes must occur, or the mutations are too weak (or too
    // strong) to exercise the parsers.
    let (accepted, refused) = (accepted.get(), refused.get());
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused} (MIGCHECK_FUZZ_SEED={seed})"
    );
}
