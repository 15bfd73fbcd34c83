//! The oracle: on many generated pairs of schemas, migcheck's "equal" must
//! agree with `pg_dump --schema-only` of both databases compared after
//! sorting their statements. A disagreement is a bug unless the change that
//! caused it is one docs/snapshot.md names: something migcheck sees and
//! pg_dump does not (an INVALID index, an extension's version), or
//! something pg_dump prints that a snapshot leaves out (statistics targets,
//! storage, replica identity, CLUSTER ON).
//!
//! One trial per Postgres major in `MIGCHECK_TEST_MAJORS` (default `15`),
//! each on its own real server. A listed major without binaries fails the
//! trial: a matrix entry that silently skipped would prove nothing.
//! Each trial first judges every mutation alone (so each documented
//! disagreement is seen on every major), then `MIGCHECK_ORACLE_PAIRS`
//! (default 120) random pairs drawn by proptest strategies. Each run draws
//! new ones, except under `MIGCHECK_ORACLE_SEED` or `PROPTEST_RNG_SEED`
//! (which `cargo xtask test` fixes under CI); a failing pair is shrunk, and
//! printed with the seed that reproduces it and the SQL of both sides.
//!
//! pg_dump: the one of the server's major is preferred (the server's bindir,
//! `MIGCHECK_PG_DUMP_<major>`, `/usr/lib/postgresql/<major>/bin`,
//! `<cache>/pg/*/bin`); when none is found, the oldest newer one (pg_dump
//! dumps older servers), and the trial says which it used.

use std::cell::{Cell, RefCell};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Failed, Trial};
use migcheck::migrations::Script;
use migcheck::postgres::{PgSpec, Server, cache_dir};
use migcheck::schema;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use tests::runtime;

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let majors = std::env::var("MIGCHECK_TEST_MAJORS").unwrap_or_else(|_| "15".to_owned());
    let pairs = env_number("MIGCHECK_ORACLE_PAIRS", 120);
    // A seed of our own when none is given, so that a failure can name it.
    let seed = match std::env::var_os("MIGCHECK_ORACLE_SEED") {
        Some(_) => env_number("MIGCHECK_ORACLE_SEED", 0),
        None => match Config::default().rng_seed {
            RngSeed::Fixed(seed) => seed,
            RngSeed::Random => RandomState::new().hash_one("migcheck"),
        },
    };
    let mut trials = Vec::new();
    for major in majors.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let name = format!("oracle_pg{major}");
        let major = major.to_owned();
        trials.push(Trial::test(name, move || {
            let major: u32 = major.parse().map_err(|_| {
                format!("MIGCHECK_TEST_MAJORS: {major:?} is not a major version number")
            })?;
            run(major, pairs, seed)
        }));
    }
    libtest_mimic::run(&args, trials).exit_code()
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// The runner of the trial's random draws: `cases` cases from `seed`, a
/// failure shrunk in at most 200 steps (each builds two databases) unless
/// `PROPTEST_MAX_SHRINK_ITERS` says otherwise.
fn runner(seed: u64, cases: u64) -> TestRunner {
    let defaults = Config::default();
    let max_shrink_iters = match std::env::var_os("PROPTEST_MAX_SHRINK_ITERS") {
        Some(_) => defaults.max_shrink_iters,
        None => 200,
    };
    TestRunner::new(Config {
        cases: u32::try_from(cases).expect("MIGCHECK_ORACLE_PAIRS fits in 32 bits"),
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters,
        ..defaults
    })
}

/// Runs each mutation alone, then `pairs` generated pairs, on a server of
/// `major`.
fn run(major: u32, pairs: u64, seed: u64) -> Result<(), Failed> {
    let server = Server::start(&PgSpec::Local { bindir: None }, Some(major)).map_err(|e| {
        format!(
            "no PostgreSQL {major} server for the oracle: {e}\n\
             provision it (cargo xtask pg install {major}) or drop {major} from MIGCHECK_TEST_MAJORS"
        )
    })?;
    let pg_dump = find_pg_dump(&server)?;
    let rt = runtime();
    let tally = RefCell::new(Tally::default());
    let admin = rt.block_on(server.connect("postgres"))?;
    let reproduce = format!(
        "MIGCHECK_ORACLE_SEED={seed} MIGCHECK_ORACLE_PAIRS={pairs} MIGCHECK_TEST_MAJORS={major} \
         cargo test -p tests --test oracle reproduces it"
    );
    // Numbers the pairs, whose databases are named after them.
    let judged = Cell::new(0u64);
    let check = |pair: &Pair| -> Result<(), String> {
        let n = judged.replace(judged.get() + 1);
        let outcome = rt
            .block_on(judge(&server, &admin, &pg_dump, pair, n))
            .map_err(|e| {
                format!(
                    "a pair with mutations {:?} could not be judged: {}\n\
                     --- left SQL:\n{}\n--- right SQL:\n{}",
                    pair.mutation_names(),
                    e.message().unwrap_or("(no message)"),
                    pair.left,
                    pair.right
                )
            })?;
        tally
            .borrow_mut()
            .add(pair, outcome)
            .map_err(|e| e.message().unwrap_or("(no message)").to_owned())
    };
    // First each mutation alone, on the first model it applies to.
    let mut alone = runner(seed, 1);
    for mutation in MUTATIONS {
        let pair = Pair::only(&mut alone, mutation);
        check(&pair).map_err(|e| {
            format!(
                "{mutation:?} alone on PostgreSQL {}: {e}\n{reproduce}",
                server.version(),
                mutation = mutation.name
            )
        })?;
    }
    // Then `pairs` random pairs.
    let result = runner(seed, pairs).run(&pair(), |pair| check(&pair).map_err(TestCaseError::fail));
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, _)) => {
            return Err(format!(
                "a random pair on PostgreSQL {}, shrunk: {reason}\n{reproduce}",
                server.version()
            )
            .into());
        }
        Err(TestError::Abort(reason)) => return Err(format!("{reason}\n{reproduce}").into()),
    }
    let tally = tally.into_inner();
    println!(
        "oracle on PostgreSQL {} with {}, MIGCHECK_ORACLE_SEED={seed}: {} pairs ({} with one \
         mutation each, {pairs} random), {} equal, {} different, \
         {} agreements, {} disagreements, each explained by a documented mutation: {:?}",
        server.version(),
        pg_dump.describe,
        MUTATIONS.len() as u64 + pairs,
        MUTATIONS.len(),
        tally.equal,
        tally.different,
        tally.agree,
        tally.disagree,
        tally.documented
    );
    Ok(())
}

#[derive(Default)]
struct Tally {
    equal: u64,
    different: u64,
    agree: u64,
    disagree: u64,
    /// Disagreements explained by a documented normalisation, by mutation.
    documented: std::collections::BTreeMap<&'static str, u64>,
}

impl Tally {
    fn add(&mut self, pair: &Pair, outcome: Outcome) -> Result<(), Failed> {
        let expected = pair.expected();
        let explain = || {
            format!(
                "mutations {:?}\n--- left SQL:\n{}\n--- right SQL:\n{}\n--- migcheck's diff:\n{}\
                 --- pg_dump statements only on the left:\n{}\n--- only on the right:\n{}",
                pair.mutation_names(),
                pair.left,
                pair.right,
                outcome.diff,
                outcome.dump_left_only.join("\n"),
                outcome.dump_right_only.join("\n"),
            )
        };
        if outcome.migcheck_equal != expected.migcheck_equal {
            return Err(format!(
                "migcheck says {} but the generator's mutations say {}: a bug in the snapshot \
                 or a wrong label in tests/oracle.rs\n{}",
                verdict(outcome.migcheck_equal),
                verdict(expected.migcheck_equal),
                explain()
            )
            .into());
        }
        if outcome.dump_equal != expected.dump_equal {
            return Err(format!(
                "pg_dump says {} but the generator's mutations say {}: a wrong label in \
                 tests/oracle.rs, or pg_dump sees something new\n{}",
                verdict(outcome.dump_equal),
                verdict(expected.dump_equal),
                explain()
            )
            .into());
        }
        if outcome.migcheck_equal {
            self.equal += 1;
        } else {
            self.different += 1;
        }
        if outcome.migcheck_equal == outcome.dump_equal {
            self.agree += 1;
        } else {
            self.disagree += 1;
            // Expected, so a documented mutation explains it.
            for mutation in &pair.mutations {
                if matches!(mutation.effect, Effect::MigcheckOnly | Effect::DumpOnly) {
                    *self.documented.entry(mutation.name).or_default() += 1;
                }
            }
        }
        Ok(())
    }
}

fn verdict(equal: bool) -> &'static str {
    if equal { "equal" } else { "different" }
}

struct Outcome {
    migcheck_equal: bool,
    dump_equal: bool,
    diff: String,
    dump_left_only: Vec<String>,
    dump_right_only: Vec<String>,
}

/// Builds both sides in fresh databases, snapshots and dumps them.
async fn judge(
    server: &Server,
    admin: &tokio_postgres::Client,
    pg_dump: &PgDump,
    pair: &Pair,
    n: u64,
) -> Result<Outcome, Failed> {
    let names = [
        format!("migcheck_oracle_{n}_left"),
        format!("migcheck_oracle_{n}_right"),
    ];
    let mut snapshots = Vec::new();
    let mut dumps = Vec::new();
    let mut result = Ok(());
    for (name, sql) in names.iter().zip([&pair.left, &pair.right]) {
        let step = async {
            admin
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
                .await
                .map_err(|e| pg_error("CREATE DATABASE", &e))?;
            let (client, task) = server.connect_with_task(name).await?;
            client
                .batch_execute(sql)
                .await
                .map_err(|e| pg_error("the generated SQL", &e))?;
            snapshots.push(schema::snapshot(&client).await?);
            drop(client);
            let _ = task.await;
            dumps.push(pg_dump.statements(server, name)?);
            Ok::<_, Failed>(())
        };
        result = step.await;
        if result.is_err() {
            break;
        }
    }
    for name in &names {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .map_err(|e| pg_error("DROP DATABASE", &e))?;
    }
    result?;
    let diff = schema::diff(&snapshots[0], &snapshots[1]);
    let only = |a: &Vec<String>, b: &Vec<String>| -> Vec<String> {
        a.iter().filter(|s| !b.contains(s)).cloned().collect()
    };
    Ok(Outcome {
        migcheck_equal: diff.is_empty(),
        dump_equal: dumps[0] == dumps[1],
        diff: diff.render("on the left", "on the right"),
        dump_left_only: only(&dumps[0], &dumps[1]),
        dump_right_only: only(&dumps[1], &dumps[0]),
    })
}

fn pg_error(what: &str, e: &tokio_postgres::Error) -> Failed {
    match e.as_db_error() {
        Some(db) => format!("{what}: {} {}", db.code().code(), db.message()).into(),
        None => format!("{what}: {e}").into(),
    }
}

/// A pg_dump binary and how the trial describes it.
struct PgDump {
    path: PathBuf,
    describe: String,
}

impl PgDump {
    /// The schema-only dump of `database` as sorted statements, without the
    /// session settings and psql's `\restrict` lines (random per run).
    /// Owners and privileges are left out, as snapshots leave them out.
    fn statements(&self, server: &Server, database: &str) -> Result<Vec<String>, Failed> {
        let output = Command::new(&self.path)
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
            .arg(database)
            .output()
            .map_err(|e| format!("running {}: {e}", self.path.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} failed: {}",
                self.path.display(),
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let text: String = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.starts_with('\\'))
            .map(|line| format!("{line}\n"))
            .collect();
        let script = Script::parse(Path::new("pg_dump output"), text)?;
        let mut statements: Vec<String> = script
            .statements
            .into_iter()
            .map(|s| s.sql.trim().to_owned())
            .filter(|s| !s.starts_with("SET ") && !s.starts_with("SELECT pg_catalog.set_config"))
            .collect();
        statements.sort();
        Ok(statements)
    }
}

/// See the module doc for the order.
fn find_pg_dump(server: &Server) -> Result<PgDump, Failed> {
    let major = server.major();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os(format!("MIGCHECK_PG_DUMP_{major}")) {
        candidates.push(PathBuf::from(path));
    }
    candidates.extend(server.bindir().map(|bindir| bindir.join("pg_dump")));
    for (name, value) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MIGCHECK_PG_DUMP_") {
            candidates.push(PathBuf::from(value));
        }
    }
    for parent in [PathBuf::from("/usr/lib/postgresql"), cache_dir().join("pg")] {
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for entry in entries.flatten() {
                candidates.push(entry.path().join("bin").join("pg_dump"));
            }
        }
    }
    let mut found: Vec<(u32, PathBuf, String)> = Vec::new();
    for path in candidates {
        let Ok(output) = Command::new(&path).arg("--version").output() else {
            continue;
        };
        let version = String::from_utf8_lossy(&output.stdout);
        // "pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
        let Some(number) = version
            .split_whitespace()
            .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        else {
            continue;
        };
        if let Some(found_major) = number.split('.').next().and_then(|m| m.parse().ok()) {
            found.push((found_major, path, number.to_owned()));
        }
    }
    if let Some((_, path, number)) = found.iter().find(|(m, ..)| *m == major) {
        return Ok(PgDump {
            describe: format!("pg_dump {number} ({})", path.display()),
            path: path.clone(),
        });
    }
    let newer = found
        .iter()
        .filter(|(m, ..)| *m > major)
        .min_by_key(|(m, ..)| *m);
    match newer {
        Some((_, path, number)) => Ok(PgDump {
            describe: format!(
                "pg_dump {number} ({}; no pg_dump {major} was found, and a newer one dumps older servers)",
                path.display()
            ),
            path: path.clone(),
        }),
        None => Err(format!(
            "no pg_dump of major {major} or newer: not in {}, nor MIGCHECK_PG_DUMP_{major}, \
             /usr/lib/postgresql/*/bin or {}/pg/*/bin; found {:?}",
            server.location(),
            cache_dir().display(),
            found
                .iter()
                .map(|(_, p, n)| format!("{n} {}", p.display()))
                .collect::<Vec<_>>()
        )
        .into()),
    }
}

// ---------------------------------------------------------------- generator

/// The choices a mutation makes in the model it changes: a table, a
/// column of it and a coin, drawn with the pair and resolved against the
/// model (`Index`), so that they shrink with it.
#[derive(Clone, Debug)]
struct Picks {
    table: Index,
    column: Index,
    coin: bool,
}

impl Picks {
    fn table(&self, model: &Model) -> usize {
        self.table.index(model.tables.len())
    }

    /// A column of some table, and the table.
    fn column(&self, model: &Model) -> (usize, usize) {
        let t = self.table(model);
        (t, self.column.index(model.tables[t].columns.len()))
    }
}

fn picks() -> impl Strategy<Value = Picks> {
    (any::<Index>(), any::<Index>(), any::<bool>()).prop_map(|(table, column, coin)| Picks {
        table,
        column,
        coin,
    })
}

/// True with probability `percent` in 100.
fn chance(percent: u32) -> prop::bool::Weighted {
    prop::bool::weighted(f64::from(percent) / 100.0)
}

/// A column type: its canonical spelling, another spelling Postgres stores
/// the same, and a default in two spellings that Postgres stores the same.
struct Type {
    name: &'static str,
    alias: &'static str,
    default: (&'static str, &'static str),
    /// Another default, stored differently.
    other_default: &'static str,
    numeric: bool,
}

const TYPES: &[Type] = &[
    Type {
        name: "integer",
        alias: "int4",
        default: ("0", "(0)"),
        other_default: "1",
        numeric: true,
    },
    Type {
        name: "bigint",
        alias: "int8",
        default: ("0", "(0)"),
        other_default: "7",
        numeric: true,
    },
    Type {
        name: "smallint",
        alias: "int2",
        default: ("1", "(1)"),
        other_default: "2",
        numeric: true,
    },
    Type {
        name: "text",
        alias: "text",
        default: ("'open'", "'open'::text"),
        other_default: "'closed'",
        numeric: false,
    },
    Type {
        name: "character varying(20)",
        alias: "varchar(20)",
        default: ("'x'", "'x'::character varying"),
        other_default: "'y'",
        numeric: false,
    },
    Type {
        name: "boolean",
        alias: "bool",
        default: ("false", "FALSE"),
        other_default: "true",
        numeric: false,
    },
    Type {
        name: "timestamp with time zone",
        alias: "timestamptz",
        default: ("now()", "now()"),
        other_default: "CURRENT_TIMESTAMP",
        numeric: false,
    },
    Type {
        name: "numeric(10,2)",
        alias: "decimal(10,2)",
        default: ("0", "0"),
        other_default: "0.5",
        numeric: true,
    },
    Type {
        name: "double precision",
        alias: "float8",
        default: ("0", "(0)"),
        other_default: "1.5",
        numeric: true,
    },
    Type {
        name: "date",
        alias: "date",
        default: ("CURRENT_DATE", "CURRENT_DATE"),
        other_default: "'2024-01-01'",
        numeric: false,
    },
    Type {
        name: "jsonb",
        alias: "jsonb",
        default: ("'{}'", "'{}'::jsonb"),
        other_default: "'[]'",
        numeric: false,
    },
    Type {
        name: "uuid",
        alias: "uuid",
        default: ("gen_random_uuid()", "gen_random_uuid()"),
        other_default: "'00000000-0000-0000-0000-000000000000'",
        numeric: false,
    },
];

#[derive(Clone, Debug)]
struct Column {
    name: String,
    ty: usize,
    not_null: bool,
    /// Index into the two spellings of the type's default, or another default.
    default: Option<Default>,
    collate_c: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Default {
    Usual,
    Other,
}

#[derive(Clone, Debug)]
struct TableIndex {
    name: String,
    columns: Vec<(String, bool)>,
    unique: bool,
    invalid: bool,
}

#[derive(Clone, Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
    check: Option<(String, bool)>,
    references: Option<String>,
    indexes: Vec<TableIndex>,
    comment: Option<String>,
    row_security: Option<(bool, String)>,
    trigger: bool,
    dump_only: Vec<String>,
}

/// A schema as data, so that mutations change meaning and spelling apart.
#[derive(Clone, Debug)]
struct Model {
    tables: Vec<Table>,
    enum_labels: Option<Vec<&'static str>>,
    view: Option<String>,
    function_body: &'static str,
    sequence_increment: Option<u32>,
    partitioned: Option<&'static str>,
    /// A domain's check expression.
    domain_check: Option<&'static str>,
    /// A composite type's second attribute's type.
    composite: Option<&'static str>,
    /// A procedure's body.
    procedure: Option<&'static str>,
    /// A materialized view over t0, and whether it is populated.
    matview: Option<bool>,
    /// A collation made with CREATE COLLATION, and its locale.
    collation: Option<&'static str>,
    /// pg_trgm, at its default version (`Some(None)`) or at one named.
    trgm: Option<Option<&'static str>>,
}

/// How a model is written: every field here must not change what
/// Postgres stores.
#[derive(Clone, Copy, Default)]
struct Spelling {
    aliases: bool,
    other_defaults: bool,
    constraints_by_alter: bool,
    dropped_gap: bool,
    using_btree: bool,
    last_column_added_later: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Effect {
    /// Only the spelling changes: both must say equal.
    Same,
    /// Both must say different.
    Differs,
    /// migcheck sees it, pg_dump does not (docs/snapshot.md).
    MigcheckOnly,
    /// pg_dump prints it, a snapshot leaves it out (docs/snapshot.md).
    DumpOnly,
}

#[derive(Debug)]
struct Mutation {
    name: &'static str,
    effect: Effect,
    /// Changes the right side's model or spelling; false when the model
    /// has nothing to apply it to.
    apply: fn(&Picks, &mut Model, &mut Spelling) -> bool,
}

#[derive(Debug)]
struct Pair {
    left: String,
    right: String,
    mutations: Vec<&'static Mutation>,
}

struct Expected {
    migcheck_equal: bool,
    dump_equal: bool,
}

/// A model, and the same model with up to two mutations (tried in order
/// from 20 candidates, skipping those that do not apply or repeat one).
fn pair() -> impl Strategy<Value = Pair> {
    (model(), 0..3usize, vec((0..MUTATIONS.len(), picks()), 20)).prop_map(
        |(model, count, candidates)| {
            let mut right = model.clone();
            let mut right_spelling = Spelling::default();
            let mut mutations: Vec<&'static Mutation> = Vec::new();
            for (m, picks) in &candidates {
                let mutation = &MUTATIONS[*m];
                if mutations.len() == count {
                    break;
                }
                if mutations.iter().any(|m| m.name == mutation.name) {
                    continue;
                }
                if (mutation.apply)(picks, &mut right, &mut right_spelling) {
                    mutations.push(mutation);
                }
            }
            Pair {
                left: model.render(Spelling::default()),
                right: right.render(right_spelling),
                mutations,
            }
        },
    )
}

impl Pair {
    /// A pair with exactly `mutation`, on the first model `runner` draws
    /// that it applies to: every mutation is judged on every major, however
    /// rarely the random pairs draw it.
    fn only(runner: &mut TestRunner, mutation: &'static Mutation) -> Pair {
        let strategy = (model(), picks());
        for _ in 0..1000 {
            let (model, picks) = strategy
                .new_tree(runner)
                .expect("models are drawn without filters")
                .current();
            let mut right = model.clone();
            let mut right_spelling = Spelling::default();
            if (mutation.apply)(&picks, &mut right, &mut right_spelling) {
                return Pair {
                    left: model.render(Spelling::default()),
                    right: right.render(right_spelling),
                    mutations: vec![mutation],
                };
            }
        }
        panic!("no generated model takes the mutation {:?}", mutation.name)
    }

    fn mutation_names(&self) -> Vec<&'static str> {
        self.mutations.iter().map(|m| m.name).collect()
    }

    fn expected(&self) -> Expected {
        let has = |effects: &[Effect]| self.mutations.iter().any(|m| effects.contains(&m.effect));
        Expected {
            migcheck_equal: !has(&[Effect::Differs, Effect::MigcheckOnly]),
            dump_equal: !has(&[Effect::Differs, Effect::DumpOnly]),
        }
    }
}

/// A table's columns: a type and whether it is NOT NULL and has the
/// type's usual default.
fn columns() -> impl Strategy<Value = Vec<Column>> {
    vec((0..TYPES.len(), chance(30), chance(40)), 1..=5).prop_map(|columns| {
        columns
            .into_iter()
            .enumerate()
            .map(|(c, (ty, not_null, default))| Column {
                name: format!("c{c}"),
                ty,
                not_null,
                default: default.then_some(Default::Usual),
                collate_c: false,
            })
            .collect()
    })
}

/// An index's columns, resolved against the table's: the first (descending
/// or not), maybe a second; and whether it is unique.
type IndexShape = (Index, bool, Option<Index>, bool);

fn index_shape() -> impl Strategy<Value = IndexShape> {
    (
        any::<Index>(),
        chance(20),
        proptest::option::weighted(0.4, any::<Index>()),
        chance(25),
    )
}

/// A table `t<t>` (named when the model is put together) without its
/// name and foreign key: columns, a check on the first numeric column,
/// indexes, a comment, row-level security, a trigger; and whether it
/// refers to the table before it.
fn table() -> impl Strategy<Value = (Table, bool)> {
    (
        columns(),
        chance(50),
        vec(index_shape(), 0..3),
        chance(50),
        chance(30),
        chance(20),
        chance(25),
    )
        .prop_map(
            |(columns, check, indexes, refers, comment, row_security, trigger)| {
                let check = columns
                    .iter()
                    .find(|c| TYPES[c.ty].numeric)
                    .filter(|_| check)
                    .map(|column| (format!("({} >= 0)", column.name), true));
                let indexes = indexes
                    .into_iter()
                    .map(|(first, descending, second, unique)| {
                        let name = |i: &Index| columns[i.index(columns.len())].name.clone();
                        let mut cols = vec![(name(&first), descending)];
                        if let Some(other) = second.map(|i| name(&i))
                            && other != cols[0].0
                        {
                            cols.push((other, false));
                        }
                        TableIndex {
                            name: String::new(),
                            columns: cols,
                            unique,
                            invalid: false,
                        }
                    })
                    .collect();
                let table = Table {
                    name: String::new(),
                    columns,
                    check,
                    references: None,
                    indexes,
                    comment: comment.then(|| "holds things".to_owned()),
                    row_security: row_security.then(|| (false, "(id > 0)".to_owned())),
                    trigger,
                    dump_only: Vec::new(),
                };
                (table, refers)
            },
        )
}

/// One to three tables, and the other objects, each there or not.
fn model() -> impl Strategy<Value = Model> {
    (
        vec(table(), 1..=3),
        (chance(40), chance(40), chance(30), chance(20), chance(30)),
        (chance(30), chance(30), chance(30), chance(30), chance(25)),
    )
        .prop_map(
            |(
                tables,
                (enum_labels, view, sequence, partitioned, trgm),
                (domain, composite, procedure, matview, collation),
            )| {
                let tables = tables
                    .into_iter()
                    .enumerate()
                    .map(|(t, (mut table, refers))| {
                        table.name = format!("t{t}");
                        for (i, index) in table.indexes.iter_mut().enumerate() {
                            index.name = format!("t{t}_i{i}");
                        }
                        table.references = (t > 0 && refers).then(|| format!("t{}", t - 1));
                        table
                    })
                    .collect();
                Model {
                    tables,
                    enum_labels: enum_labels.then(|| vec!["new", "active", "done"]),
                    view: view.then(|| "SELECT id FROM t0 WHERE id > 10".to_owned()),
                    function_body: "BEGIN NEW.id := NEW.id; RETURN NEW; END",
                    sequence_increment: sequence.then_some(1),
                    partitioned: partitioned
                        .then_some("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"),
                    trgm: trgm.then_some(None),
                    domain_check: domain.then_some("(VALUE > 0)"),
                    composite: composite.then_some("text"),
                    procedure: procedure.then_some("SELECT 1"),
                    matview: matview.then_some(true),
                    collation: collation.then_some("C"),
                }
            },
        )
}

impl Model {
    fn render(&self, spelling: Spelling) -> String {
        let mut sql = String::new();
        match self.trgm {
            Some(Some(version)) => {
                sql.push_str(&format!("CREATE EXTENSION pg_trgm VERSION '{version}';\n"))
            }
            Some(None) => sql.push_str("CREATE EXTENSION pg_trgm;\n"),
            None => {}
        }
        if let Some(labels) = &self.enum_labels {
            let labels: Vec<String> = labels.iter().map(|l| format!("'{l}'")).collect();
            sql.push_str(&format!(
                "CREATE TYPE state AS ENUM ({});\n",
                labels.join(", ")
            ));
        }
        sql.push_str(&format!(
            "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ {} $$;\n",
            self.function_body
        ));
        for table in &self.tables {
            let mut defs = vec!["id bigint NOT NULL".to_owned()];
            if self.enum_labels.is_some() && table.name == "t0" {
                defs.push("st state".to_owned());
            }
            if let Some(parent) = &table.references {
                defs.push(format!("{parent}_id bigint"));
            }
            if spelling.dropped_gap {
                defs.push("gone text".to_owned());
            }
            let later = spelling.last_column_added_later && table.columns.len() > 1;
            let (inline, added) = if later {
                table.columns.split_at(table.columns.len() - 1)
            } else {
                (&table.columns[..], &[][..])
            };
            for column in inline {
                defs.push(column.render(spelling));
            }
            let mut constraints = vec![format!("CONSTRAINT {}_pkey PRIMARY KEY (id)", table.name)];
            if let Some((check, _)) = &table.check {
                constraints.push(format!("CONSTRAINT {}_check CHECK {check}", table.name));
            }
            if let Some(parent) = &table.references {
                constraints.push(format!(
                    "CONSTRAINT {}_fkey FOREIGN KEY ({parent}_id) REFERENCES {parent} (id)",
                    table.name
                ));
            }
            // A constraint may name the column added later: then all come after it.
            let by_alter = spelling.constraints_by_alter || later;
            if !by_alter {
                defs.extend(constraints.iter().cloned());
            }
            sql.push_str(&format!(
                "CREATE TABLE {} ({});\n",
                table.name,
                defs.join(", ")
            ));
            if spelling.dropped_gap {
                sql.push_str(&format!("ALTER TABLE {} DROP COLUMN gone;\n", table.name));
            }
            for column in added {
                sql.push_str(&format!(
                    "ALTER TABLE {} ADD COLUMN {};\n",
                    table.name,
                    column.render(spelling)
                ));
            }
            if by_alter {
                for constraint in &constraints {
                    sql.push_str(&format!("ALTER TABLE {} ADD {constraint};\n", table.name));
                }
            }
            if let Some((check, false)) = &table.check {
                // Rebuilt as NOT VALID: the same check, never validated.
                sql.push_str(&format!(
                    "ALTER TABLE {0} DROP CONSTRAINT {0}_check;\n\
                     ALTER TABLE {0} ADD CONSTRAINT {0}_check CHECK {check} NOT VALID;\n",
                    table.name
                ));
            }
            for index in &table.indexes {
                let columns: Vec<String> = index
                    .columns
                    .iter()
                    .map(|(c, desc)| {
                        if *desc {
                            format!("{c} DESC")
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                sql.push_str(&format!(
                    "CREATE {}INDEX {} ON {}{} ({});\n",
                    if index.unique { "UNIQUE " } else { "" },
                    index.name,
                    table.name,
                    if spelling.using_btree {
                        " USING btree"
                    } else {
                        ""
                    },
                    columns.join(", ")
                ));
                if index.invalid {
                    sql.push_str(&format!(
                        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{}'::regclass;\n",
                        index.name
                    ));
                }
            }
            if let Some(comment) = &table.comment {
                sql.push_str(&format!(
                    "COMMENT ON TABLE {} IS '{comment}';\n",
                    table.name
                ));
            }
            if let Some((force, using)) = &table.row_security {
                sql.push_str(&format!(
                    "ALTER TABLE {0} ENABLE ROW LEVEL SECURITY;\n\
                     CREATE POLICY {0}_own ON {0} USING {using};\n",
                    table.name
                ));
                if *force {
                    sql.push_str(&format!(
                        "ALTER TABLE {} FORCE ROW LEVEL SECURITY;\n",
                        table.name
                    ));
                }
            }
            if table.trigger {
                sql.push_str(&format!(
                    "CREATE TRIGGER {0}_touch BEFORE UPDATE ON {0} FOR EACH ROW EXECUTE FUNCTION touch();\n",
                    table.name
                ));
            }
            for statement in &table.dump_only {
                sql.push_str(statement);
                sql.push('\n');
            }
        }
        if let Some(view) = &self.view {
            sql.push_str(&format!("CREATE VIEW v AS {view};\n"));
        }
        if let Some(check) = self.domain_check {
            sql.push_str(&format!("CREATE DOMAIN positive AS int CHECK {check};\n"));
        }
        if let Some(ty) = self.composite {
            sql.push_str(&format!("CREATE TYPE pair AS (x int, y {ty});\n"));
        }
        if let Some(body) = self.procedure {
            sql.push_str(&format!(
                "CREATE PROCEDURE tidy() LANGUAGE sql AS $$ {body} $$;\n"
            ));
        }
        if let Some(populated) = self.matview {
            sql.push_str(&format!(
                "CREATE MATERIALIZED VIEW mv AS SELECT id FROM t0 {};\n",
                if populated {
                    "WITH DATA"
                } else {
                    "WITH NO DATA"
                }
            ));
        }
        if let Some(locale) = self.collation {
            sql.push_str(&format!(
                "CREATE COLLATION fixed (provider = libc, locale = '{locale}');\n"
            ));
        }
        if let Some(increment) = self.sequence_increment {
            sql.push_str(&format!(
                "CREATE SEQUENCE numbers INCREMENT BY {increment};\n"
            ));
        }
        if let Some(bound) = self.partitioned {
            sql.push_str(&format!(
                "CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);\n\
                 CREATE TABLE events_2024 PARTITION OF events {bound};\n\
                 CREATE INDEX events_at ON events (at);\n"
            ));
        }
        sql
    }
}

impl Column {
    fn render(&self, spelling: Spelling) -> String {
        let ty = &TYPES[self.ty];
        let mut text = format!(
            "{} {}",
            self.name,
            if spelling.aliases { ty.alias } else { ty.name }
        );
        if self.collate_c {
            text.push_str(" COLLATE \"C\"");
        }
        if self.not_null {
            text.push_str(" NOT NULL");
        }
        match self.default {
            Some(Default::Usual) => {
                let d = if spelling.other_defaults {
                    ty.default.1
                } else {
                    ty.default.0
                };
                text.push_str(&format!(" DEFAULT {d}"));
            }
            Some(Default::Other) => text.push_str(&format!(" DEFAULT {}", ty.other_default)),
            None => {}
        }
        text
    }
}

/// Whether an index, the check or a statement of the table names the column.
fn column_used(table: &Table, column: &str) -> bool {
    let word = format!(" {column} ");
    table
        .indexes
        .iter()
        .any(|i| i.columns.iter().any(|(c, _)| c == column))
        || table
            .check
            .as_ref()
            .is_some_and(|(c, _)| c.contains(column))
        || table.dump_only.iter().any(|s| s.contains(&word))
}

static MUTATIONS: &[Mutation] = &[
    // Spellings that Postgres stores the same.
    Mutation {
        name: "type aliases",
        effect: Effect::Same,
        apply: |_, _, s| {
            s.aliases = true;
            true
        },
    },
    Mutation {
        name: "defaults spelled otherwise",
        effect: Effect::Same,
        apply: |_, _, s| {
            s.other_defaults = true;
            true
        },
    },
    Mutation {
        name: "constraints added by ALTER TABLE",
        effect: Effect::Same,
        apply: |_, _, s| {
            s.constraints_by_alter = true;
            true
        },
    },
    Mutation {
        name: "dropped column gap",
        effect: Effect::Same,
        apply: |_, _, s| {
            s.dropped_gap = true;
            true
        },
    },
    Mutation {
        name: "USING btree written out",
        effect: Effect::Same,
        apply: |_, _, s| {
            s.using_btree = true;
            true
        },
    },
    Mutation {
        name: "last column added later",
        effect: Effect::Same,
        apply: |_, _, s| {
            s.last_column_added_later = true;
            true
        },
    },
    // Differences both must see.
    Mutation {
        name: "column missing",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let (t, c) = p.column(m);
            let table = &mut m.tables[t];
            if table.columns.len() < 2 || column_used(table, &table.columns[c].name) {
                return false;
            }
            table.columns.remove(c);
            true
        },
    },
    Mutation {
        name: "column type",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let (t, c) = p.column(m);
            let table = &mut m.tables[t];
            let column = &table.columns[c];
            if column.default.is_some() || column.collate_c || column_used(table, &column.name) {
                return false;
            }
            table.columns[c].ty = (column.ty + 1) % TYPES.len();
            true
        },
    },
    Mutation {
        name: "nullability",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let (t, c) = p.column(m);
            let column = &mut m.tables[t].columns[c];
            column.not_null = !column.not_null;
            true
        },
    },
    Mutation {
        name: "default",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let (t, c) = p.column(m);
            let column = &mut m.tables[t].columns[c];
            column.default = match column.default {
                None => Some(Default::Usual),
                Some(Default::Usual) => {
                    if p.coin {
                        None
                    } else {
                        Some(Default::Other)
                    }
                }
                Some(Default::Other) => Some(Default::Usual),
            };
            true
        },
    },
    Mutation {
        name: "collation",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let (t, c) = p.column(m);
            let column = &mut m.tables[t].columns[c];
            if !matches!(TYPES[column.ty].name, "text" | "character varying(20)") {
                return false;
            }
            column.collate_c = !column.collate_c;
            true
        },
    },
    Mutation {
        name: "column order",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            let columns = &mut m.tables[t].columns;
            if columns.len() < 2 {
                return false;
            }
            columns.swap(0, 1);
            true
        },
    },
    Mutation {
        name: "index missing",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            let indexes = &mut m.tables[t].indexes;
            match indexes.iter().position(|i| !i.invalid) {
                Some(i) => {
                    indexes.remove(i);
                    true
                }
                None => false,
            }
        },
    },
    Mutation {
        name: "index unique",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            match m.tables[t].indexes.iter_mut().find(|i| !i.invalid) {
                Some(index) => {
                    index.unique = !index.unique;
                    true
                }
                None => false,
            }
        },
    },
    Mutation {
        name: "index descending",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            match m.tables[t].indexes.iter_mut().find(|i| !i.invalid) {
                Some(index) => {
                    index.columns[0].1 = !index.columns[0].1;
                    true
                }
                None => false,
            }
        },
    },
    Mutation {
        name: "check missing",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            m.tables[t].check.take().is_some()
        },
    },
    Mutation {
        name: "check NOT VALID",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            match &mut m.tables[t].check {
                Some(check) => {
                    check.1 = false;
                    true
                }
                None => false,
            }
        },
    },
    Mutation {
        name: "foreign key missing",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            m.tables[t].references.take().is_some()
        },
    },
    Mutation {
        name: "comment",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            let table = &mut m.tables[t];
            table.comment = match table.comment {
                Some(_) => None,
                None => Some("other".to_owned()),
            };
            true
        },
    },
    Mutation {
        name: "row security forced",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            match &mut m.tables[t].row_security {
                Some(rls) => {
                    rls.0 = !rls.0;
                    true
                }
                None => false,
            }
        },
    },
    Mutation {
        name: "policy expression",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            match &mut m.tables[t].row_security {
                Some(rls) => {
                    rls.1 = "(id > 1)".to_owned();
                    true
                }
                None => false,
            }
        },
    },
    Mutation {
        name: "trigger missing",
        effect: Effect::Differs,
        apply: |p, m, _| {
            let t = p.table(m);
            std::mem::replace(&mut m.tables[t].trigger, false)
        },
    },
    Mutation {
        name: "enum labels",
        effect: Effect::Differs,
        apply: |_, m, _| match &mut m.enum_labels {
            Some(labels) => {
                labels.swap(1, 2);
                true
            }
            None => false,
        },
    },
    Mutation {
        name: "view definition",
        effect: Effect::Differs,
        apply: |_, m, _| match &mut m.view {
            Some(view) => {
                *view = "SELECT id FROM t0 WHERE id > 11".to_owned();
                true
            }
            None => false,
        },
    },
    Mutation {
        name: "function body",
        effect: Effect::Differs,
        apply: |_, m, _| {
            m.function_body = "BEGIN RETURN NEW; END";
            true
        },
    },
    Mutation {
        name: "sequence increment",
        effect: Effect::Differs,
        apply: |_, m, _| match &mut m.sequence_increment {
            Some(increment) => {
                *increment = 5;
                true
            }
            None => false,
        },
    },
    Mutation {
        name: "partition bound",
        effect: Effect::Differs,
        apply: |_, m, _| match &mut m.partitioned {
            Some(bound) => {
                *bound = "FOR VALUES FROM ('2024-01-01') TO ('2024-07-01')";
                true
            }
            None => false,
        },
    },
    Mutation {
        name: "domain check",
        effect: Effect::Differs,
        apply: |_, m, _| match &mut m.domain_check {
            Some(check) => {
                *check = "(VALUE >= 0)";
                true
            }
            None => false,
        },
    },
    Mutation {
        name: "composite attribute type",
        effect: Effect::Differs,
        apply: |_, m, _| match &mut m.composite {
            Some(ty) => {
                *ty = "varchar";
                true
            }
            None => false,
        },
    },
    Mutation {
        name: "procedure body",
        effect: Effect::Differs,
        apply: |_, m, _| match &mut m.procedure {
            Some(body) => {
                *body = "SELECT 2";
                true
            }
            None => false,
        },
    },
    Mutation {
        name: "collation locale",
        effect: Effect::Differs,
        apply: |_, m, _| match &mut m.collation {
            Some(locale) => {
                *locale = "POSIX";
                true
            }
            None => false,
        },
    },
    // migcheck sees these; pg_dump does not print them.
    Mutation {
        name: "materialized view not populated (pg_dump --schema-only writes every one WITH NO DATA)",
        effect: Effect::MigcheckOnly,
        apply: |_, m, _| match &mut m.matview {
            Some(populated @ true) => {
                *populated = false;
                true
            }
            _ => false,
        },
    },
    Mutation {
        name: "INVALID index (pg_dump leaves invalid indexes out)",
        effect: Effect::MigcheckOnly,
        apply: |p, m, _| {
            let t = p.table(m);
            let table = &mut m.tables[t];
            let name = format!("{}_leftover", table.name);
            let column = table.columns[0].name.clone();
            table.indexes.push(TableIndex {
                name,
                columns: vec![(column, false)],
                unique: false,
                invalid: true,
            });
            true
        },
    },
    Mutation {
        name: "extension version (pg_dump does not print it)",
        effect: Effect::MigcheckOnly,
        apply: |_, m, _| match &mut m.trgm {
            Some(version @ None) => {
                *version = Some("1.3");
                true
            }
            _ => false,
        },
    },
    // pg_dump prints these; a snapshot leaves them out (docs/snapshot.md).
    Mutation {
        name: "statistics target",
        effect: Effect::DumpOnly,
        apply: |p, m, _| {
            let (t, c) = p.column(m);
            let table = &mut m.tables[t];
            let statement = format!(
                "ALTER TABLE {} ALTER COLUMN {} SET STATISTICS 500;",
                table.name, table.columns[c].name
            );
            table.dump_only.push(statement);
            true
        },
    },
    Mutation {
        name: "replica identity",
        effect: Effect::DumpOnly,
        apply: |p, m, _| {
            let t = p.table(m);
            let table = &mut m.tables[t];
            let statement = format!("ALTER TABLE {} REPLICA IDENTITY FULL;", table.name);
            table.dump_only.push(statement);
            true
        },
    },
    Mutation {
        name: "CLUSTER ON",
        effect: Effect::DumpOnly,
        apply: |p, m, _| {
            let t = p.table(m);
            let table = &mut m.tables[t];
            let statement = format!("ALTER TABLE {0} CLUSTER ON {0}_pkey;", table.name);
            table.dump_only.push(statement);
            true
        },
    },
];
