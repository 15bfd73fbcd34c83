//! The same migration history written in every supported layout
//! (`scenarios/ok/formats/<format>/`) must end with the same schema.
//!
//! Each directory is loaded with `--format auto`, which must detect the
//! layout its name says; the index migration must be non-transactional
//! where the layout can say so, and every migration must have a down where
//! the layout has downs. Each set is then applied fresh in a template
//! sandbox, and every layout's snapshot fingerprint must equal plain's.

use std::collections::BTreeSet;
use std::path::Path;

use migcheck::migrations::{Format, MigrationSet};
use migcheck::postgres::{PgSpec, Server};
use migcheck::runner::Runner;
use migcheck::sandbox::{Sandboxes, Strategy, Timeouts};
use migcheck::schema::{self, Snapshot};
use tests::{runtime, workspace_root};

/// One directory per layout: its name, the format detection must find,
/// whether the layout can mark a migration as non-transactional, and
/// whether it has down migrations.
struct Layout {
    dir: &'static str,
    format: Format,
    marks_no_transaction: bool,
    has_downs: bool,
}

const LAYOUTS: [Layout; 6] = [
    Layout {
        dir: "plain",
        format: Format::Plain,
        // No marker: a file holding CONCURRENTLY runs outside a transaction.
        marks_no_transaction: true,
        has_downs: false,
    },
    Layout {
        dir: "sqlx",
        format: Format::Sqlx,
        marks_no_transaction: true,
        has_downs: true,
    },
    Layout {
        dir: "golang-migrate",
        format: Format::GolangMigrate,
        // No marker: a file holding one statement runs outside a transaction.
        marks_no_transaction: true,
        has_downs: true,
    },
    Layout {
        dir: "diesel",
        format: Format::Diesel,
        marks_no_transaction: true,
        has_downs: true,
    },
    Layout {
        dir: "flyway",
        format: Format::Flyway,
        marks_no_transaction: true,
        has_downs: true,
    },
    Layout {
        dir: "dbmate",
        format: Format::Dbmate,
        marks_no_transaction: true,
        has_downs: true,
    },
];

/// The last migration of every set builds this index.
const INDEX: &str = "orders_customer_placed_idx";

fn formats_dir() -> std::path::PathBuf {
    workspace_root().join("scenarios/ok/formats")
}

/// Loads and checks the set of one layout, without a server.
fn load(layout: &Layout) -> MigrationSet {
    let dir = formats_dir().join(layout.dir);
    let set =
        MigrationSet::load(&dir, Format::Auto).unwrap_or_else(|e| panic!("{}: {e}", layout.dir));
    assert_eq!(
        set.format, layout.format,
        "{}: detected as {}, not {}",
        layout.dir, set.format, layout.format
    );
    let names: Vec<&str> = set.migrations.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(set.migrations.len(), 5, "{}: {names:?}", layout.dir);
    for (i, m) in set.migrations.iter().enumerate() {
        let last = i + 1 == set.migrations.len();
        // golang-migrate sends a file as one query: a single statement runs
        // outside a transaction block (and is atomic on its own anyway).
        let single = layout.format == Format::GolangMigrate && m.up.statements.len() == 1;
        let transaction = !(single || last && layout.marks_no_transaction);
        assert_eq!(
            m.transaction, transaction,
            "{}: {} is read with transaction = {}",
            layout.dir, m.name, m.transaction
        );
        assert_eq!(
            m.down.is_some(),
            layout.has_downs,
            "{}: {} has a down: {}",
            layout.dir,
            m.name,
            m.down.is_some()
        );
    }
    set
}

/// Applies `set` to a fresh template sandbox and snapshots the result.
async fn apply(sandboxes: &mut Sandboxes<'_>, set: &MigrationSet) -> Result<Snapshot, String> {
    let sandbox = sandboxes.open().await.map_err(|e| e.to_string())?;
    let outcome = async {
        let failed = sandbox
            .apply(Runner::default(), &set.migrations)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(e) = failed {
            return Err(format!(
                "{}:{}:{}: {} [SQLSTATE {}]",
                e.migration,
                e.line,
                e.column,
                e.message,
                e.sqlstate.unwrap_or_default()
            ));
        }
        schema::snapshot(sandbox.client())
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let closed = sandboxes.close(sandbox).await.map_err(|e| e.to_string());
    let snapshot = outcome?;
    closed?;
    Ok(snapshot)
}

#[test]
fn every_layout_ends_with_the_same_schema() {
    // Every directory is a layout this test knows, so none is skipped.
    let dirs: BTreeSet<String> = std::fs::read_dir(formats_dir())
        .expect("scenarios/ok/formats")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir())
        .filter_map(|path| Some(path.file_name()?.to_str()?.to_string()))
        .collect();
    let known: BTreeSet<String> = LAYOUTS.iter().map(|l| l.dir.to_string()).collect();
    assert_eq!(
        dirs, known,
        "the layout directories of scenarios/ok/formats"
    );

    let sets: Vec<(&Layout, MigrationSet)> = LAYOUTS.iter().map(|l| (l, load(l))).collect();

    let server = Server::start(&PgSpec::Local { bindir: None }, None)
        .unwrap_or_else(|e| panic!("cannot start a Postgres server for the test: {e}"));
    let snapshots: Vec<Result<Snapshot, String>> = runtime().block_on(async {
        let mut sandboxes = Sandboxes::new(&server, Strategy::Template, Timeouts::default());
        let mut snapshots = Vec::new();
        for (_, set) in &sets {
            snapshots.push(apply(&mut sandboxes, set).await);
        }
        sandboxes
            .shutdown()
            .await
            .expect("dropping the sandbox databases");
        snapshots
    });
    drop(server);

    let mut snapshots = sets.iter().zip(snapshots).map(|((layout, set), snapshot)| {
        let dir = display(&set.dir);
        let snapshot = snapshot.unwrap_or_else(|e| panic!("{dir}: {e}"));
        (layout.dir, snapshot)
    });
    let (_, plain) = snapshots.next().expect("plain comes first");
    for table in ["customers", "orders"] {
        assert!(plain.has_table(table), "plain: no table {table}");
    }
    assert!(plain.has_index(INDEX), "plain: no index {INDEX}");
    let mismatched: Vec<String> = snapshots
        .filter(|(_, other)| other.fingerprint() != plain.fingerprint())
        .map(|(dir, other)| {
            format!(
                "{dir} ends with another schema than plain:\n{}",
                schema::diff(&plain, &other).render("plain", dir)
            )
        })
        .collect();
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
}

fn display(dir: &Path) -> String {
    dir.strip_prefix(workspace_root())
        .unwrap_or(dir)
        .display()
        .to_string()
}
