//! The postgres module through its public API: servers start, answer, and
//! leave nothing behind, also on a panic or a signal.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use migcheck::postgres::{PgSpec, PostgresError, Server};

fn start() -> Server {
    Server::start(&PgSpec::Local { bindir: None }, None)
        .unwrap_or_else(|error| panic!("cannot start a server: {error}"))
}

/// The server is gone: no process, no directory (so no socket or data).
fn assert_gone(dir: &Path, pid: u32) {
    assert!(!dir.exists(), "{} is left behind", dir.display());
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid as i32, 0) } == 0;
    assert!(!alive, "postmaster {pid} is still running");
}

async fn query_one(server: &Server, sql: &str) -> String {
    let client = server
        .connect("postgres")
        .await
        .unwrap_or_else(|error| panic!("connect: {error}"));
    let row = client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    row.get(0)
}

#[tokio::test]
async fn starts_answers_and_leaves_nothing() {
    let server = start();
    let version = query_one(&server, "SELECT version()").await;
    assert!(
        version.starts_with(&format!("PostgreSQL {} ", server.version())),
        "SELECT version() says {version:?}, postgres --version said {}",
        server.version()
    );
    let number: i32 = query_one(&server, "SHOW server_version_num")
        .await
        .parse()
        .expect("a number");
    assert_eq!(number as u32 / 10000, server.major());
    assert_eq!(server.backend(), "local");
    assert!(
        server
            .bindir()
            .expect("a local server")
            .join("postgres")
            .is_file()
    );
    assert!(
        server
            .dir()
            .expect("a local server")
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("migcheck-"))
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &server
            .dir()
            .expect("a local server")
            .metadata()
            .expect("stat")
            .permissions(),
    );
    assert_eq!(
        mode & 0o077,
        0,
        "{} is open to others: {mode:o}",
        server.dir().expect("a local server").display()
    );

    let (dir, pid) = (
        server.dir().expect("a local server").to_owned(),
        server.pid().expect("a local server"),
    );
    drop(server);
    assert_gone(&dir, pid);
}

#[tokio::test]
async fn two_servers_at_once() {
    let (a, b) = (start(), start());
    assert_ne!(
        a.dir().expect("a local server"),
        b.dir().expect("a local server")
    );
    let client_a = a.connect("postgres").await.expect("connect to a");
    let client_b = b.connect("postgres").await.expect("connect to b");
    client_a
        .batch_execute("CREATE TABLE only_in_a (id int)")
        .await
        .expect("create in a");
    let in_b: i64 = client_b
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'",
            &[],
        )
        .await
        .expect("query b")
        .get(0);
    assert_eq!(in_b, 0, "the servers share a cluster");
}

#[tokio::test]
async fn unknown_database_is_a_refusal_with_sqlstate() {
    let server = start();
    match server.connect("migcheck_no_such_db").await {
        Err(PostgresError::ConnectRefused { sqlstate, .. }) => assert_eq!(sqlstate, "3D000"),
        Err(other) => panic!("expected ConnectRefused, got {other:?}"),
        Ok(_) => panic!("connected to a database that does not exist"),
    }
}

#[test]
fn psql_command_connects() {
    let server = start();
    let command = server.psql_command("postgres");
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} -XAtc 'SELECT 42'"))
        .output()
        .expect("run sh");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "42",
        "{command}: {output:?}"
    );
}

#[test]
fn bad_bindir_names_the_path() {
    let spec: PgSpec = "local:/nonexistent/migcheck-bin"
        .parse()
        .expect("valid spec");
    let error = Server::start(&spec, None).expect_err("no binaries there");
    assert!(
        matches!(
            error,
            PostgresError::BadBindir { .. } | PostgresError::NoBinaries { .. }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("/nonexistent/migcheck-bin"),
        "{error}"
    );
}

#[test]
fn wrong_major_is_refused() {
    let found = start();
    let spec = PgSpec::Local {
        bindir: Some(found.bindir().expect("a local server").to_owned()),
    };
    let other = found.major() + 1;
    let error = Server::start(&spec, Some(other)).expect_err("wrong major");
    assert!(
        matches!(error, PostgresError::WrongVersion { .. }),
        "{error:?}"
    );
    let error =
        Server::start(&PgSpec::Local { bindir: None }, Some(999)).expect_err("no such major");
    assert!(
        matches!(error, PostgresError::NoBinaries { .. }),
        "{error:?}"
    );
    eprintln!("{error}");
}

#[test]
fn panic_unwinds_through_drop() {
    let seen = std::sync::Mutex::new(None::<(PathBuf, u32)>);
    let result = std::panic::catch_unwind(|| {
        let server = start();
        *seen.lock().expect("lock") = Some((
            server.dir().expect("a local server").to_owned(),
            server.pid().expect("a local server"),
        ));
        panic!("a check failed");
    });
    assert!(result.is_err());
    let (dir, pid) = seen.into_inner().expect("lock").expect("server started");
    assert_gone(&dir, pid);
}

/// Runs in a child process started by `signal_stops_servers`: starts two
/// servers, prints their directories and pids, and waits to be killed.
#[test]
#[ignore = "not a test on its own: signal_stops_servers runs it in a child process"]
fn signal_child() {
    let servers = [start(), start()];
    for server in &servers {
        println!(
            "\nMIGCHECK-SERVER {} {}",
            server.pid().expect("a local server"),
            server.dir().expect("a local server").display()
        );
    }
    println!("\nMIGCHECK-READY");
    std::thread::sleep(Duration::from_secs(60));
    panic!("was not stopped by the signal");
}

/// A failing test must not leave its child (and its servers) running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: signals our own child; SIGTERM lets its handler clean up.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

#[test]
fn signal_stops_servers() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--ignored",
                    "--exact",
                    "signal_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn the test binary"),
        );
        let child = &mut child.0;
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut servers = Vec::new();
        for line in stdout.lines() {
            let line = line.expect("read child output");
            if line == "MIGCHECK-READY" {
                break;
            }
            if let Some(rest) = line.strip_prefix("MIGCHECK-SERVER ") {
                let (pid, dir) = rest.split_once(' ').expect("pid and dir");
                servers.push((PathBuf::from(dir), pid.parse::<u32>().expect("pid")));
            }
        }
        assert_eq!(servers.len(), 2, "the child did not start its servers");
        // SAFETY: sends a signal to our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().expect("wait for the child");
        assert_eq!(status.code(), Some(130), "signal {signal}");
        for (dir, pid) in servers {
            assert_gone(&dir, pid);
        }
    }
}

fn check(input: &str, expected: Result<PgSpec, &str>) {
    let got = input.parse::<PgSpec>();
    match (&got, &expected) {
        (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{input}"),
        (Err(message), Err(needle)) => assert!(
            message.contains(needle),
            "{input}: {message:?} lacks {needle:?}"
        ),
        _ => panic!("{input}: got {got:?}, expected {expected:?}"),
    }
    if let Err(message) = got {
        assert!(
            !message.contains("secret"),
            "{input}: the message shows a password: {message}"
        );
    }
}

#[test]
fn pg_spec_parsing() {
    let local = |dir: &str| {
        Ok(PgSpec::Local {
            bindir: Some(PathBuf::from(dir)),
        })
    };
    check("auto", Ok(PgSpec::Auto));
    check("local", Ok(PgSpec::Local { bindir: None }));
    check(
        "local:/usr/lib/postgresql/15/bin",
        local("/usr/lib/postgresql/15/bin"),
    );
    check("local:relative/bin", local("relative/bin"));
    check("local:", Err("needs a directory"));
    check("container", Ok(PgSpec::Container { image: None }));
    check(
        "container:registry:5000/postgres:16",
        Ok(PgSpec::Container {
            image: Some("registry:5000/postgres:16".into()),
        }),
    );
    check("container:", Err("needs an image"));
    check("dsn:", Err("needs a connection string"));
    check(
        "dsn:postgres://me:secret@db.example:notaport/app",
        Err("not a valid connection string"),
    );
    let dsn = "dsn:postgres://me:secret@db.example/app"
        .parse::<PgSpec>()
        .expect("a valid URL");
    assert_eq!(dsn.to_string(), "dsn:postgres://me@db.example:5432/app");
    assert!(!format!("{dsn:?}").contains("secret"), "{dsn:?}");
    check(
        "postgres://me:secret@db.example/app",
        Err("not a connection string"),
    );
    check("host=db password=secret", Err("not a connection string"));
    check("docker", Err("unknown --pg value \"docker\""));
    check("", Err("unknown --pg value"));
    check(
        "Auto",
        Err("use --pg auto, local[:BINDIR], container[:IMAGE] or dsn:URL"),
    );
    assert_eq!(PgSpec::Auto.to_string(), "auto");
    assert_eq!(
        "local:/x/bin"
            .parse::<PgSpec>()
            .map(|spec| spec.to_string()),
        Ok("local:/x/bin".to_owned())
    );
}
