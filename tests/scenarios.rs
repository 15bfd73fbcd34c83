//! The scenario runner: one trial per bundled scenario and check, named
//! `<dir>::<scenario>::<check>` so that `cargo test jobs` filters.
//!
//! Where a scenario lives states what it must produce: `ok/...` no error
//! finding, `err/...` exactly the findings its `expect_findings` lists.
//! Adding a scenario file adds trials. The same library function runs a
//! user's own suite (`migcheck::suite`).

use std::process::ExitCode;

use migcheck::postgres::PgSpec;
use migcheck::suite::Suite;
use tests::workspace_root;

fn main() -> ExitCode {
    Suite::new(workspace_root().join("scenarios"))
        .pg(PgSpec::Local { bindir: None })
        .ok_err_layout()
        .run()
}
