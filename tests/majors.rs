//! One trial per PostgreSQL major listed in `MIGCHECK_TEST_MAJORS` (a
//! comma list, e.g. `13,14,16,17,18`; default `13,15,18`, as `cargo xtask test` sets it): a server
//! of that major starts through the local backend's search, reports that
//! major, and runs DDL. A listed major without binaries fails and says how
//! to provision it (`cargo xtask pg install`); it is never skipped, so a CI
//! that lists a major really tests on it.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};
use migcheck::postgres::{PgSpec, Server};
use tests::runtime;

const MAJORS_ENV: &str = "MIGCHECK_TEST_MAJORS";
const DEFAULT_MAJORS: &str = "13,15,18";

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let listed = std::env::var(MAJORS_ENV).unwrap_or_else(|_| DEFAULT_MAJORS.to_owned());
    let trials = listed
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let major = item.parse::<u32>().map_err(|_| {
                format!("{MAJORS_ENV}={listed:?}: `{item}` is not a major version such as 16")
            });
            Trial::test(format!("major::{item}"), move || starts_and_reports(major?))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

fn starts_and_reports(major: u32) -> Result<(), Failed> {
    let server = Server::start(&PgSpec::Local { bindir: None }, Some(major)).map_err(|error| {
        format!(
            "{MAJORS_ENV} lists PostgreSQL {major}, but no server of it starts: {error}\n\
             Provision it with `cargo xtask pg install {major}` (see DEVELOPERS.md), or leave \
             it out of {MAJORS_ENV}."
        )
    })?;
    if server.major() != major {
        return Err(format!(
            "asked for major {major}, got {} from {}",
            server.version(),
            server.location()
        )
        .into());
    }
    let (version, number) = runtime()
        .block_on(async {
            let client = server.connect("postgres").await?;
            client
                .batch_execute(
                    "CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t VALUES (1, 'x')",
                )
                .await?;
            let row = client
                .query_one(
                    "SELECT version(), current_setting('server_version_num')::int FROM t",
                    &[],
                )
                .await?;
            Ok::<_, Box<dyn std::error::Error>>((row.get::<_, String>(0), row.get::<_, i32>(1)))
        })
        .map_err(|error| format!("PostgreSQL {major} ({}): {error}", server.location()))?;
    if number / 10000 != major as i32
        || !version.starts_with(&format!("PostgreSQL {}", server.version()))
    {
        return Err(format!(
            "the server from {} reports {version:?}, server_version_num {number}; expected major \
             {major}, version {}",
            server.location(),
            server.version()
        )
        .into());
    }
    Ok(())
}
