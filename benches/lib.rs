//! Criterion benches of migcheck's own costs; see the `[[bench]]` targets.
//! Shared here: the server, runtime and scenario most of them use, the
//! schemas they measure, and the sizes and sampling of the scaling benches.

use migcheck::postgres::{PgSpec, Server};
use migcheck::scenario::Scenario;

/// A throwaway local server (binaries found on this machine) for a bench.
pub fn local_server() -> Server {
    Server::start(&PgSpec::Local { bindir: None }, None).expect("a local Postgres server")
}

/// The runtime migcheck's async functions run on, as `migcheck` runs
/// them: one thread.
pub fn runtime() -> tokio::runtime::Runtime {
    migcheck::runtime().expect("a tokio runtime")
}

/// `scenarios/ok/billing-history`: 12 golang-migrate migrations with
/// downs, the set the verify and fuzz benches measure.
pub fn billing_history() -> Scenario {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ lives in the workspace")
        .join("scenarios/ok/billing-history.yaml");
    Scenario::discover(&file)
        .expect("the billing-history scenario")
        .remove(0)
}

/// A schema of `tables` tables shaped like an application's: a bigserial
/// key, text with defaults, a check, a numeric, a timestamp, a foreign key
/// to the previous table, two more indexes; and for every ten tables an
/// enum, a view, a function and a trigger.
pub fn application_schema(tables: usize) -> String {
    let mut sql = String::new();
    for i in 0..tables {
        let parent = if i == 0 {
            String::new()
        } else {
            format!(", parent_id bigint REFERENCES t{}(id)", i - 1)
        };
        sql.push_str(&format!(
            "CREATE TABLE t{i} (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', \
             status text DEFAULT 'open' CHECK (status <> ''), amount numeric(12,2), \
             created_at timestamptz NOT NULL DEFAULT now(){parent});\n\
             CREATE INDEX t{i}_name ON t{i} (name);\n\
             CREATE UNIQUE INDEX t{i}_status ON t{i} (status, created_at DESC);\n"
        ));
        if i % 10 == 9 {
            sql.push_str(&format!(
                "CREATE TYPE mood{i} AS ENUM ('sad', 'ok', 'happy');\n\
                 CREATE VIEW v{i} AS SELECT id, name FROM t{i} WHERE status = 'open';\n\
                 CREATE FUNCTION touch{i}() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;\n\
                 CREATE TRIGGER t{i}_touch BEFORE UPDATE ON t{i} \
                 FOR EACH ROW EXECUTE FUNCTION touch{i}();\n"
            ));
        }
    }
    sql
}

/// Writes a golang-migrate set of `migrations` migrations (up and down)
/// into `dir`, shaped like an application's history: every table is
/// created, then gains a column, an index, a check constraint on that
/// column, and a data migration backfilling it, five migrations a table;
/// each table has a foreign key to the one before.
pub fn generated_set(migrations: usize, dir: &std::path::Path) -> std::io::Result<()> {
    for i in 0..migrations {
        let t = format!("t{}", i / 5);
        let (name, up, down) = match i % 5 {
            0 => {
                let parent = match i / 5 {
                    0 => String::new(),
                    k => format!(",\n  parent_id bigint REFERENCES t{}(id)", k - 1),
                };
                (
                    format!("create_{t}"),
                    format!(
                        "CREATE TABLE {t} (\n  id bigserial PRIMARY KEY,\n  \
                         name text NOT NULL DEFAULT '',\n  \
                         created_at timestamptz NOT NULL DEFAULT now(){parent}\n);\n"
                    ),
                    format!("DROP TABLE {t};\n"),
                )
            }
            1 => (
                format!("add_{t}_amount"),
                format!("ALTER TABLE {t} ADD COLUMN amount numeric(12,2);\n"),
                format!("ALTER TABLE {t} DROP COLUMN amount;\n"),
            ),
            2 => (
                format!("index_{t}_name"),
                format!("CREATE INDEX {t}_name ON {t} (name);\n"),
                format!("DROP INDEX {t}_name;\n"),
            ),
            3 => (
                format!("check_{t}_amount"),
                format!(
                    "ALTER TABLE {t} ADD CONSTRAINT {t}_amount_not_negative CHECK (amount >= 0);\n"
                ),
                format!("ALTER TABLE {t} DROP CONSTRAINT {t}_amount_not_negative;\n"),
            ),
            _ => (
                format!("backfill_{t}_amount"),
                format!("UPDATE {t} SET amount = 0 WHERE amount IS NULL;\n"),
                format!("UPDATE {t} SET amount = NULL WHERE amount = 0;\n"),
            ),
        };
        let stem = format!("{:06}_{name}", i + 1);
        std::fs::write(dir.join(format!("{stem}.up.sql")), up)?;
        std::fs::write(dir.join(format!("{stem}.down.sql")), down)?;
    }
    Ok(())
}

/// The sizes a scaling bench runs: those `var` lists (`50,100`), else
/// `default`.
pub fn sizes(var: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(var) {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{var} lists numbers, e.g. 50,100"))
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

/// A group for runs long enough that criterion's fewest samples (10,
/// each one run, after one warm-up run) are plenty.
pub fn few_samples<'c>(
    c: &'c mut criterion::Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .warm_up_time(std::time::Duration::from_millis(1))
        .measurement_time(std::time::Duration::from_secs(1));
    group
}
