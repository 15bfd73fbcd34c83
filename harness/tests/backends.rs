//! Where servers come from, end to end through the `migcheck` binary: the
//! container backend (a real Docker engine and image), an existing server
//! (`--pg dsn:`), `--pg auto`, and the version matrix. Each asserts what the
//! run left behind: no container, no database, no file.
//!
//! Needs a Docker engine and the image `$MIGCHECK_TEST_IMAGE` (default
//! `migcheck/postgres:15-debian`, built by `cargo xtask pg image`), and the
//! local majors listed in `$MIGCHECK_TEST_MAJORS` (default 13,15,18; others from
//! `cargo xtask pg install`). Without them the tests fail and say so.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_nothing_left, migcheck, private_tmp, sleeping_run};
use migcheck::postgres::{PgSpec, Server};

const OK_SCENARIO: &str = "scenarios/ok/jobs-before-chat-id.yaml";

fn image() -> String {
    std::env::var("MIGCHECK_TEST_IMAGE").unwrap_or_else(|_| "migcheck/postgres:15-debian".into())
}

fn majors() -> Vec<String> {
    std::env::var("MIGCHECK_TEST_MAJORS")
        .unwrap_or_else(|_| "13,15,18".into())
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// IDs of containers labelled as migcheck's; `pid` narrows to one run.
fn containers(pid: Option<u32>) -> Vec<String> {
    let mut command = Command::new("docker");
    command.args([
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        "label=dev.migcheck=1",
    ]);
    if let Some(pid) = pid {
        command.args(["--filter", &format!("label=dev.migcheck.pid={pid}")]);
    }
    let output = command
        .output()
        .expect("run the docker client (the container tests need Docker: see .ci/docker-up)");
    assert!(
        output.status.success(),
        "docker ps failed; is the engine running (.ci/docker-up)?\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs migcheck to its end; returns its output and pid (which labels its
/// containers: other tests run containers at the same time).
fn run(mut command: Command) -> (Output, u32) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run migcheck");
    let pid = child.id();
    (child.wait_with_output().expect("wait for migcheck"), pid)
}

fn container_run(tmp: &Path, args: &[&str]) -> (Output, u32) {
    let image = image();
    let pg = format!("container:{image}");
    let mut all = args.to_vec();
    all.extend(["--pg", &pg]);
    run(migcheck(tmp, &all))
}

#[test]
fn containers_run_the_bundled_scenarios_and_are_removed() {
    let tmp = private_tmp();
    let (output, pid) = container_run(tmp.path(), &["verify", "scenarios", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert!(
        report["summary"]["scenarios"].as_u64().unwrap_or(0) >= 30,
        "{report}"
    );
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert!(scenarios.iter().all(|s| s["ok"] == true), "{report}");
    assert_eq!(
        containers(Some(pid)),
        Vec::<String>::new(),
        "a container is left behind"
    );
    assert_nothing_left(tmp.path());
}

/// A container run busy in a migration that sleeps: the child, its
/// container's id, and the directories it must not outlive.
struct Busy {
    child: std::process::Child,
    container: String,
    tmp: tempfile::TempDir,
    /// Holds the migrations: keep it bound while the run lasts.
    _input: tempfile::TempDir,
}

/// What a SIGKILLed container run left: no handler ran, so its
/// container is still there.
struct Killed {
    container: String,
    tmp: tempfile::TempDir,
    _input: tempfile::TempDir,
}

fn killed_container_run() -> Killed {
    let Busy {
        mut child,
        container,
        tmp,
        _input,
    } = busy_container_run();
    child.kill().expect("kill migcheck");
    child.wait().expect("reap migcheck");
    assert!(
        containers(None).contains(&container),
        "the container went away with its killer; nothing to test"
    );
    Killed {
        container,
        tmp,
        _input,
    }
}

fn busy_container_run() -> Busy {
    let tmp = private_tmp();
    let pg = format!("container:{}", image());
    let (mut child, input) = sleeping_run(tmp.path(), 120, Some(&pg));
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    let container = loop {
        if let Some(id) = containers(Some(pid)).pop() {
            break id;
        }
        assert!(Instant::now() < deadline, "no container was started");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "migcheck exited early"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    Busy {
        child,
        container,
        tmp,
        _input: input,
    }
}

#[test]
fn ctrl_c_removes_the_container() {
    let Busy {
        child,
        container,
        tmp,
        _input,
    } = busy_container_run();
    // Until the server is up the run may still be starting it; then the
    // migration sleeps.
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    assert!(
        !containers(None).contains(&container),
        "Ctrl-C left the container {container}"
    );
    assert_nothing_left(tmp.path());
}

/// Ctrl-C while the container is being asked for, created or started
/// (whatever the moment) leaves no container: it is registered for removal
/// before it exists.
#[test]
fn ctrl_c_during_a_container_start_leaves_no_container() {
    let tmp = private_tmp();
    let pg = format!("container:{}", image());
    for delay in [30, 60, 100, 150, 250, 400, 700, 1000] {
        let (mut child, _input) = sleeping_run(tmp.path(), 120, Some(&pg));
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(delay));
        common::interrupt(&mut child);
        assert_eq!(
            containers(Some(pid)),
            Vec::<String>::new(),
            "Ctrl-C {delay} ms after the start left a container"
        );
        assert_nothing_left(tmp.path());
    }
}

#[test]
fn a_killed_run_leaves_a_container_the_next_run_removes() {
    let Killed {
        container: leftover,
        tmp,
        _input,
    } = killed_container_run();

    let (output, next) = container_run(tmp.path(), &["verify", OK_SCENARIO]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        !containers(None).contains(&leftover),
        "the next run did not remove the leftover container {leftover}"
    );
    assert_eq!(containers(Some(next)), Vec::<String>::new());
}

/// A run on another backend removes a killed run's container too, on a
/// thread of its own (the engine is given the time to act, not the run).
#[test]
fn a_local_run_removes_a_killed_runs_container() {
    let Killed {
        container: leftover,
        tmp,
        _input,
    } = killed_container_run();

    let output = migcheck(tmp.path(), &["verify", OK_SCENARIO, "--pg", "local"])
        .output()
        .expect("run migcheck");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let deadline = Instant::now() + Duration::from_secs(30);
    while containers(None).contains(&leftover) {
        assert!(
            Instant::now() < deadline,
            "the local run did not remove the leftover container {leftover}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_nothing_left(tmp.path());
}

#[test]
fn a_panic_removes_the_container() {
    // Containers this test process starts itself carry its pid.
    let me = std::process::id();
    let result = std::panic::catch_unwind(|| {
        let spec = PgSpec::Container {
            image: Some(image()),
        };
        let _server = Server::start(&spec, None).expect("a container");
        assert_eq!(containers(Some(me)).len(), 1, "the container is labelled");
        panic!("a check failed");
    });
    assert!(result.is_err());
    assert_eq!(containers(Some(me)), Vec::<String>::new());
}

#[test]
fn container_errors_are_clear_and_exit_2() {
    let tmp = private_tmp();
    let mut command = migcheck(tmp.path(), &["verify", OK_SCENARIO, "--pg", "container"]);
    command.env("DOCKER_HOST", "unix:///nonexistent/migcheck-docker.sock");
    let (output, _) = run(command);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output)
            .contains("Docker engine at unix:///nonexistent/migcheck-docker.sock is not reachable"),
        "{}",
        text(&output)
    );

    let (output, missing) = run(migcheck(
        tmp.path(),
        &[
            "verify",
            OK_SCENARIO,
            "--pg",
            "container:migcheck/no-such-image:0",
        ],
    ));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("could not start a container of migcheck/no-such-image:0"),
        "{}",
        text(&output)
    );

    let (output, wrong) = container_run(tmp.path(), &["verify", OK_SCENARIO, "--pg-version", "13"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("but major version 13 was asked for"),
        "{}",
        text(&output)
    );
    for pid in [missing, wrong] {
        assert_eq!(containers(Some(pid)), Vec::<String>::new());
    }
    assert_nothing_left(tmp.path());
}

#[test]
fn auto_prefers_a_container_and_falls_back_to_local_binaries() {
    let tmp = private_tmp();
    let auto = |envs: &[(&str, &str)]| {
        let mut command = migcheck(tmp.path(), &["verify", OK_SCENARIO, "--pg-version", "15"]);
        command.env("MIGCHECK_PG", "auto");
        for (key, value) in envs {
            command.env(key, value);
        }
        run(command)
    };
    let image = image();
    let (output, pid) = auto(&[("MIGCHECK_PG_IMAGE", &image)]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("(container {image})")),
        "{}",
        text(&output)
    );

    let no_docker = ("DOCKER_HOST", "unix:///nonexistent/migcheck-docker.sock");
    let (output, _) = auto(&[no_docker]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("(local "), "{}", text(&output));

    let (output, _) = auto(&[
        no_docker,
        ("MIGCHECK_PG_BINDIR", "/nonexistent/migcheck-bin"),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let message = text(&output);
    assert!(
        message.contains("no way to start a PostgreSQL server here"),
        "{message}"
    );
    assert!(
        message.contains("containers: the Docker engine"),
        "{message}"
    );
    assert!(
        message.contains("local binaries: MIGCHECK_PG_BINDIR=/nonexistent/migcheck-bin"),
        "{message}"
    );
    assert_eq!(containers(Some(pid)), Vec::<String>::new());
    assert_nothing_left(tmp.path());
}

#[test]
fn the_version_matrix_runs_every_scenario_on_every_major() {
    let majors = majors();
    assert!(
        majors.len() >= 2,
        "a matrix needs two majors or more: set MIGCHECK_TEST_MAJORS (e.g. 13,15,18, after \
         `cargo xtask pg install 13 18`)"
    );
    let tmp = private_tmp();
    let list = majors.join(",");
    // The closing table: a row per scenario, a column per version (on a
    // few scenarios; the whole corpus runs below).
    let human = ["verify", "scenarios/err/formats", "--pg-version", &list];
    let output = migcheck(tmp.path(), &human).output().expect("run migcheck");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let header = stdout
        .lines()
        .find(|line| line.starts_with("scenario "))
        .unwrap_or_else(|| panic!("no scenario × version table:\n{stdout}"));
    for major in &majors {
        assert!(
            header.contains(&format!(" {major}.")),
            "{major} missing in {header:?}"
        );
    }
    for id in [
        "dbmate",
        "diesel",
        "flyway",
        "golang-migrate",
        "plain",
        "sqlx",
    ] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(&format!("{id} ")) && !line.contains('·'))
            .unwrap_or_else(|| panic!("no row for {id}:\n{stdout}"));
        assert_eq!(row.matches("expected)").count(), majors.len(), "{row}");
    }

    // The whole corpus must pass on every major.
    let args = ["verify", "scenarios", "--pg-version", &list];
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let output = migcheck(tmp.path(), &json_args)
        .output()
        .expect("run migcheck");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let versions: Vec<&str> = report["summary"]["postgres"]
        .as_array()
        .expect("postgres")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(versions.len(), majors.len(), "{report}");
    for (version, major) in versions.iter().zip(&majors) {
        assert!(
            version.starts_with(&format!("{major}.")),
            "{version} is not {major}"
        );
    }
    // Every finding says which version it was found on.
    let findings = report["findings"].as_array().expect("findings");
    for major in &majors {
        assert!(
            findings.iter().any(|f| f["postgres"]
                .as_str()
                .is_some_and(|v| v.starts_with(&format!("{major}.")))),
            "no finding on {major}: {report}"
        );
    }
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(
        scenarios.len(),
        report["summary"]["scenarios"].as_u64().unwrap_or(0) as usize * majors.len()
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn unknown_majors_are_clear_errors() {
    let tmp = private_tmp();
    let output = migcheck(tmp.path(), &["verify", OK_SCENARIO, "--pg-version", "99"])
        .output()
        .expect("run migcheck");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("no PostgreSQL 99 server binaries"),
        "{}",
        text(&output)
    );
    let output = migcheck(
        tmp.path(),
        &["verify", OK_SCENARIO, "--pg-version", "fifteen"],
    )
    .output()
    .expect("run migcheck");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert_nothing_left(tmp.path());
}

/// A local server standing in for a team's shared test server: password
/// authentication (on its Unix socket: local servers have no TCP), a role
/// for migcheck, and a database of the team's that must stay untouched.
struct Existing {
    server: Server,
    runtime: tokio::runtime::Runtime,
}

const PASSWORD: &str = "pw-s3cret-migcheck";

impl Existing {
    fn start() -> Existing {
        let server = Server::start(&PgSpec::Local { bindir: None }, None).expect("a local server");
        let runtime = migcheck::runtime().expect("runtime");
        let hba = server.data_dir().expect("local").join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all postgres trust\nlocal all all scram-sha-256\n",
        )
        .expect("write pg_hba.conf");
        let existing = Existing { server, runtime };
        for sql in [
            "SELECT pg_reload_conf()".to_owned(),
            format!("CREATE ROLE team LOGIN PASSWORD '{PASSWORD}' CREATEDB"),
            format!("CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}'"),
            "CREATE DATABASE empty OWNER team".to_owned(),
            "CREATE DATABASE app OWNER team".to_owned(),
        ] {
            existing.sql(&sql);
        }
        existing.sql_in(
            "app",
            "CREATE TABLE customers (id int); INSERT INTO customers VALUES (1)",
        );
        existing
    }

    fn sql(&self, sql: &str) {
        self.sql_in("postgres", sql);
    }

    fn sql_in(&self, database: &str, sql: &str) {
        self.runtime.block_on(async {
            let client = self.server.connect(database).await.expect("connect");
            client.batch_execute(sql).await.expect("setup SQL");
        });
    }

    fn databases(&self) -> Vec<String> {
        self.runtime.block_on(async {
            let client = self.server.connect("postgres").await.expect("connect");
            client
                .query("SELECT datname FROM pg_database ORDER BY 1", &[])
                .await
                .expect("list databases")
                .iter()
                .map(|row| row.get(0))
                .collect()
        })
    }

    fn url(&self, user: &str, database: &str) -> String {
        self.url_with(user, PASSWORD, database)
    }

    fn url_with(&self, user: &str, password: &str, database: &str) -> String {
        // The socket's directory as the host, percent-encoded.
        format!(
            "dsn:postgres://{user}:{password}@{}:{}/{database}",
            self.socket_dir().replace('/', "%2F"),
            self.server.port(),
        )
    }

    fn socket_dir(&self) -> String {
        self.server
            .dir()
            .expect("a local server")
            .display()
            .to_string()
    }
}

fn dsn_run(tmp: &Path, pg: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "verify",
        OK_SCENARIO,
        "scenarios/ok/formats/plain.yaml",
        "--pg",
        pg,
    ];
    args.extend(extra);
    let output = migcheck(tmp, &args).output().expect("run migcheck");
    assert!(
        !text(&output).contains(PASSWORD),
        "the password was printed:\n{}",
        text(&output)
    );
    assert!(!text(&output).contains("panicked"), "{}", text(&output));
    output
}

#[test]
fn an_existing_server_gets_only_databases_of_migchecks_own_and_loses_them() {
    let existing = Existing::start();
    let before = existing.databases();
    let tmp = private_tmp();
    let output = dsn_run(tmp.path(), &existing.url("team", "empty"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("(dsn postgres://team@{}:", existing.socket_dir())),
        "{}",
        text(&output)
    );
    assert_eq!(existing.databases(), before, "databases were left or lost");
    // The team's data is as it was.
    existing.sql_in(
        "app",
        "DO $$ BEGIN ASSERT (SELECT count(*) FROM customers) = 1; END $$",
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn existing_servers_that_cannot_be_used_are_refused() {
    let existing = Existing::start();
    let before = existing.databases();
    let tmp = private_tmp();

    let output = dsn_run(tmp.path(), &existing.url("team", "app"), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("database \"app\" holds 1 table(s)"),
        "{}",
        text(&output)
    );
    assert!(
        text(&output).contains("--dsn-allow-tables"),
        "{}",
        text(&output)
    );
    let output = dsn_run(
        tmp.path(),
        &existing.url("team", "app"),
        &["--dsn-allow-tables"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let output = dsn_run(tmp.path(), &existing.url("reader", "empty"), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("may not create databases"),
        "{}",
        text(&output)
    );

    let wrong = existing.url_with("team", &format!("not-{PASSWORD}"), "empty");
    let output = migcheck(tmp.path(), &["verify", OK_SCENARIO, "--pg", &wrong])
        .output()
        .expect("run migcheck");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("password authentication failed"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains(PASSWORD), "{}", text(&output));

    let closed = format!("dsn:postgres://team:{PASSWORD}@127.0.0.1:1/empty");
    let output = dsn_run(tmp.path(), &closed, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("cannot connect"),
        "{}",
        text(&output)
    );

    let output = dsn_run(tmp.path(), "dsn:postgres://team@127.0.0.1:notaport/x", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let output = dsn_run(
        tmp.path(),
        &existing.url("team", "empty"),
        &["--pg-version", "13"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("major version 13 was asked for"),
        "{}",
        text(&output)
    );

    assert_eq!(existing.databases(), before);
    assert_nothing_left(tmp.path());
}

#[test]
fn ctrl_c_drops_the_databases_made_on_an_existing_server() {
    let existing = Existing::start();
    let before = existing.databases();
    let tmp = private_tmp();
    let pg = existing.url("team", "empty");
    let (mut child, _input) = sleeping_run(tmp.path(), 60, Some(&pg));
    let deadline = Instant::now() + Duration::from_secs(30);
    while existing.databases().len() == before.len() {
        assert!(Instant::now() < deadline, "migcheck made no database");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "migcheck exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert_eq!(existing.databases(), before, "databases left on the server");
    assert_nothing_left(tmp.path());
}
