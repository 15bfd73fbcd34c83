//! Helpers shared by migcheck's integration tests.

use std::path::PathBuf;
use std::sync::OnceLock;

use migcheck::postgres::{PgSpec, Server};

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// A server started on first use and shared by the trials of one test
/// binary. Kept in an `Arc` owned by `main`, never in a static, so that it
/// is dropped (and the cluster stopped) when `main` returns.
#[derive(Default)]
pub struct SharedServer {
    server: OnceLock<Result<Server, String>>,
}

impl SharedServer {
    pub fn get(&self) -> Result<&Server, String> {
        self.server
            .get_or_init(|| {
                Server::start(&PgSpec::Local { bindir: None }, None)
                    .map_err(|e| format!("cannot start a Postgres server for the tests: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A current-thread runtime for one trial.
pub fn runtime() -> tokio::runtime::Runtime {
    migcheck::runtime().expect("a tokio runtime")
}
