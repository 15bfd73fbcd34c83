//! `bench` against a real server, with small tables (no timing is
//! asserted, only what was observed): the loader fills keys, unique
//! columns, foreign keys and enums with the same rows for the same seed;
//! on the bundled large-table scenario a constant default rewrites
//! nothing, a volatile one rewrites the table under ACCESS EXCLUSIVE, a
//! plain CREATE INDEX takes SHARE and CONCURRENTLY no ACCESS EXCLUSIVE;
//! and the thresholds turn those into `table-rewrite` and
//! `long-exclusive-lock` findings.

use std::time::Duration;

use migcheck::bench::{self, Options, Run, scaling::Thresholds};
use migcheck::finding::Kind;
use migcheck::migrations::Format;
use migcheck::postgres::{PgSpec, Server};
use migcheck::sandbox::{Sandboxes, Strategy, Timeouts};

fn large_table(thresholds: Thresholds, load: bool) -> bench::BenchReport {
    let options = Options {
        migrations: tests::workspace_root().join("scenarios/bench/large-table/migrations"),
        format: Format::Auto,
        pg: PgSpec::Local { bindir: None },
        pg_versions: Vec::new(),
        rows: vec![300, 3_000],
        bench_from: Some("002".into()),
        load,
        seed: 7,
        thresholds,
        psql: None,
        superuser: false,
    };
    migcheck::pipeline::bench(&options).expect("bench runs on the bundled scenario")
}

fn run<'r>(report: &'r bench::BenchReport, migration: &str, rows: u64) -> &'r Run {
    report
        .runs
        .iter()
        .find(|r| r.migration.starts_with(migration) && r.rows == rows)
        .unwrap_or_else(|| panic!("no run of {migration} at {rows} rows in {:#?}", report.runs))
}

fn modes_on(run: &Run, relation: &str) -> Vec<String> {
    run.measurement
        .locks
        .iter()
        .filter(|l| l.relation == relation)
        .map(|l| l.mode.clone())
        .collect()
}

fn rewritten(run: &Run) -> Vec<String> {
    run.measurement
        .tables
        .iter()
        .filter(|t| t.rewritten)
        .map(|t| t.table.clone())
        .collect()
}

#[test]
fn rewrites_and_locks_of_the_large_table_scenario() {
    let report = large_table(Thresholds::default(), true);
    for rows in [300, 3_000] {
        let flag = run(&report, "002", rows);
        assert_eq!(
            rewritten(flag),
            Vec::<String>::new(),
            "DEFAULT false rewrote"
        );
        assert_eq!(modes_on(flag, "accounts"), ["AccessExclusiveLock"]);
        assert!(flag.measurement.exclusive.is_some());

        let token = run(&report, "003", rows);
        assert_eq!(
            rewritten(token),
            ["public.accounts"],
            "DEFAULT gen_random_uuid()"
        );
        assert!(modes_on(token, "accounts").contains(&"AccessExclusiveLock".to_owned()));
        let accounts = &token.measurement.tables[0];
        assert!(accounts.bytes_after > 0 && accounts.bytes_before > 0);

        let index = run(&report, "004", rows);
        assert_eq!(rewritten(index), Vec::<String>::new());
        assert_eq!(modes_on(index, "accounts"), ["ShareLock"]);
        assert_eq!(
            index.measurement.exclusive, None,
            "the new index's own lock blocks nobody"
        );
        assert_eq!(index.measurement.lock_source, "exact");

        let concurrent = run(&report, "005", rows);
        assert_eq!(rewritten(concurrent), Vec::<String>::new());
        assert_eq!(concurrent.measurement.exclusive, None);
        assert_eq!(concurrent.measurement.lock_source, "sampled");
        for measured in [flag, token, index, concurrent] {
            let load = measured.measurement.load.as_ref().expect("--load ran");
            assert_eq!(load.table, "public.accounts");
        }
    }
    // The default rewrite threshold (8 MB) is far above 3,000 rows.
    assert!(report.findings.iter().all(|f| f.kind != Kind::TableRewrite));
    assert_eq!(report.set, "large-table");
    let loaded: Vec<(&str, u64)> = report.loads[0]
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.rows))
        .collect();
    assert_eq!(loaded, [("public.accounts", 300), ("public.payments", 300)]);
}

#[test]
fn thresholds_make_the_findings() {
    let report = large_table(
        Thresholds {
            lock_budget: Duration::ZERO,
            rewrite_bytes: 0,
            project_rows: 10_000_000,
        },
        false,
    );
    let mut found: Vec<(Kind, &str)> = report
        .findings
        .iter()
        .map(|f| (f.kind, f.migration.as_deref().unwrap_or("")))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (Kind::TableRewrite, "003_add_token.sql"),
            (Kind::LongExclusiveLock, "002_add_flag.sql"),
            (Kind::LongExclusiveLock, "003_add_token.sql"),
        ]
    );
    assert_eq!(report.exit_code(), 1);
    let json: serde_json::Value =
        serde_json::from_str(&report.render(bench::report::BenchFormat::Json)).expect("json");
    let rewrite = json["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == "table-rewrite"))
        .expect("a table-rewrite finding in the JSON");
    assert_eq!(rewrite["line"], 3);
    assert_eq!(json["bench"]["runs"].as_array().map(Vec::len), Some(8));
}

/// Loads `rows` rows into the schema `ddl` with `seed`; returns each
/// table's row count and a checksum of its rows.
fn load(server: &Server, ddl: &str, rows: u64, seed: u64) -> Vec<(String, i64, String)> {
    tests::runtime().block_on(async {
        let mut sandboxes = Sandboxes::new(server, Strategy::Template, Timeouts::default());
        let sandbox = sandboxes.open().await.expect("sandbox");
        let client = sandbox.client();
        client.batch_execute(ddl).await.expect("schema");
        let loaded = bench::data::load(client, rows, seed).await.expect("load");
        // The loader skips the foreign keys' triggers: every key must
        // still point at a row.
        let orphans: i64 = client
            .query_one(
                "SELECT (SELECT count(*) FROM users u WHERE NOT EXISTS
                            (SELECT FROM orgs o WHERE o.id = u.org))
                      + (SELECT count(*) FROM users u WHERE u.manager IS NOT NULL
                            AND NOT EXISTS (SELECT FROM users m WHERE m.id = u.manager))
                      + (SELECT count(*) FROM memberships m WHERE NOT EXISTS
                            (SELECT FROM users u WHERE u.id = m.user_id))",
                &[],
            )
            .await
            .expect("orphans")
            .get(0);
        assert_eq!(orphans, 0, "rows referencing no parent");
        let mut out = Vec::new();
        for table in loaded {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {} t",
                        table.table
                    ),
                    &[],
                )
                .await
                .expect("count");
            out.push((table.table, row.get(0), row.get(1)));
        }
        sandboxes.close(sandbox).await.expect("close");
        sandboxes.shutdown().await.expect("shutdown");
        out
    })
}

#[test]
fn the_loader_fits_keys_foreign_keys_and_types_and_repeats_for_a_seed() {
    let server = Server::start(&PgSpec::Local { bindir: None }, None).expect("a local server");
    let ddl = "
        CREATE TYPE mood AS ENUM ('ok', 'meh');
        CREATE DOMAIN short AS varchar(5);
        CREATE TABLE orgs (id uuid PRIMARY KEY, code short NOT NULL UNIQUE, mood mood NOT NULL,
                           meta jsonb, born date, rate real);
        CREATE TABLE users (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                            org uuid NOT NULL REFERENCES orgs, manager int REFERENCES users,
                            email text NOT NULL, seen timestamptz DEFAULT '2020-01-01',
                            price numeric, UNIQUE (org, email));
        CREATE TABLE memberships (org uuid, user_id int, PRIMARY KEY (org, user_id),
                                  FOREIGN KEY (user_id) REFERENCES users);";
    let first = load(&server, ddl, 400, 3);
    let names: Vec<(&str, i64)> = first.iter().map(|(t, n, _)| (t.as_str(), *n)).collect();
    assert_eq!(
        names,
        [
            ("public.orgs", 400),
            ("public.users", 400),
            ("public.memberships", 400)
        ],
        "parents are loaded before children, every table gets its rows"
    );
    assert_eq!(
        load(&server, ddl, 400, 3),
        first,
        "the same seed gives the same rows"
    );
    assert_ne!(
        load(&server, ddl, 400, 4),
        first,
        "another seed gives other rows"
    );
}
