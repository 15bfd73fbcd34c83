//! Criterion benches of migcheck's own costs; see the `[[bench]]` targets.
//! Shared here: the server, runtime and scenario most of them use, and the
//! schemas they measure.

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
