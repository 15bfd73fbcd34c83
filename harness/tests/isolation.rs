//! What one run, scenario or case must not do to the next, end to end
//! through the `migcheck` binary: an existing server (`--pg dsn:`) whose
//! URL names a superuser is refused unless allowed; databases that a killed
//! run left on it are dropped by the next run, and no others; roles and
//! replication slots a scenario creates are gone before the next scenario,
//! on an existing server and on a local one, and those that existed before
//! stay.
//!
//! The existing server is a local cluster started through the library,
//! reached on its Unix socket; it goes, with everything on it, when the
//! test ends.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{assert_nothing_left, migcheck, private_tmp, sleeping_run, write};
use migcheck::postgres::{PgSpec, Server};

const OK_SCENARIO: &str = "scenarios/ok/jobs-before-chat-id.yaml";

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run(tmp: &Path, args: &[&str]) -> Output {
    let output = migcheck(tmp, args).output().expect("run migcheck");
    assert!(!text(&output).contains("panicked"), "{}", text(&output));
    output
}

/// A local server standing in for a shared test server: a role `team` that
/// may create databases and nothing more, a role `hostly` that may also run
/// programs on the server's host, and a role of the team's,
/// `migcheck_probe_kept`, that no run may drop.
struct Existing {
    server: Server,
    runtime: tokio::runtime::Runtime,
}

impl Existing {
    fn start() -> Existing {
        let server = Server::start(&PgSpec::Local { bindir: None }, None).expect("a local server");
        let runtime = migcheck::runtime().expect("runtime");
        let existing = Existing { server, runtime };
        existing.sql(
            "CREATE ROLE team LOGIN CREATEDB;
             CREATE ROLE hostly LOGIN CREATEDB;
             GRANT pg_execute_server_program TO hostly;
             CREATE ROLE migcheck_probe_kept;",
        );
        existing.sql("CREATE DATABASE empty OWNER team");
        existing
    }

    fn sql(&self, sql: &str) {
        self.runtime.block_on(async {
            let client = self.server.connect("postgres").await.expect("connect");
            client.batch_execute(sql).await.expect("setup SQL");
        });
    }

    /// The first column of `sql`'s rows, as text.
    fn column(&self, sql: &str) -> Vec<String> {
        self.runtime.block_on(async {
            let client = self.server.connect("postgres").await.expect("connect");
            client
                .query(sql, &[])
                .await
                .expect("query")
                .iter()
                .map(|row| row.get(0))
                .collect()
        })
    }

    fn databases(&self) -> Vec<String> {
        self.column("SELECT datname::text FROM pg_database ORDER BY 1")
    }

    /// `--pg` for `user`, on the server's Unix socket.
    fn url(&self, user: &str) -> String {
        format!(
            "dsn:host={} port={} user={user} dbname=empty",
            self.server.dir().expect("a local server").display(),
            self.server.port()
        )
    }
}

#[test]
fn a_superuser_url_is_refused_unless_allowed() {
    let existing = Existing::start();
    let before = existing.databases();
    let tmp = private_tmp();

    let output = run(
        tmp.path(),
        &["verify", OK_SCENARIO, "--pg", &existing.url("postgres")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    for said in [
        "role \"postgres\" is a superuser",
        "change the whole cluster",
        "run programs on the server's host",
        "CREATEDB",
        "--dsn-allow-superuser",
    ] {
        assert!(
            text(&output).contains(said),
            "{said:?} in {}",
            text(&output)
        );
    }

    let output = run(
        tmp.path(),
        &["verify", OK_SCENARIO, "--pg", &existing.url("hostly")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("role \"hostly\" is a member of pg_execute_server_program"),
        "{}",
        text(&output)
    );

    for allowed in [
        vec!["--pg", &existing.url("postgres"), "--dsn-allow-superuser"],
        vec!["--pg", &existing.url("team")],
    ] {
        let mut args = vec!["verify", OK_SCENARIO];
        args.extend(allowed);
        let output = run(tmp.path(), &args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }

    let output = run(
        tmp.path(),
        &[
            "verify",
            OK_SCENARIO,
            "--pg",
            "local",
            "--dsn-allow-superuser",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("--dsn-allow-superuser applies only to --pg dsn:URL"),
        "{}",
        text(&output)
    );

    assert_eq!(existing.databases(), before, "databases were left or lost");
    assert_nothing_left(tmp.path());
}

/// A process of this machine as the owner a database comment names: host,
/// boot, pid namespace, pid and start time.
fn owner(pid: u32, start: u64) -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    assert_eq!(
        unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) },
        0
    );
    let end = buffer.iter().position(|&b| b == 0).expect("a host name");
    let host = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("a boot id");
    let ns = std::fs::read_link("/proc/self/ns/pid").expect("a pid namespace");
    let ns = ns.to_string_lossy();
    let ns = ns.trim_start_matches("pid:[").trim_end_matches(']');
    format!(
        "migcheck owner host={host} boot={} pidns={ns} pid={pid} start={start}",
        boot.trim()
    )
}

fn own_start_time() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("a command name") + 1..];
    after_name
        .split_whitespace()
        .nth(19)
        .and_then(|start| start.parse().ok())
        .expect("field 22")
}

#[test]
fn databases_a_killed_run_left_are_dropped_by_the_next_and_no_others() {
    let existing = Existing::start();
    let before = existing.databases();
    let tmp = private_tmp();
    let pg = existing.url("team");

    // A run killed in the middle leaves its database, which names it.
    let (mut child, _input) = sleeping_run(tmp.path(), 60, Some(&pg));
    let owned = |pid: u32| {
        existing.column(&format!(
            "SELECT datname::text FROM pg_database \
              WHERE datname LIKE 'migcheck\\_%' \
                AND shobj_description(oid, 'pg_database') LIKE 'migcheck owner host=% boot=% pidns=% pid={pid} start=%'"
        ))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while owned(child.id()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "migcheck made no database naming it"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "migcheck exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let left = owned(child.id());
    assert!(
        !left.is_empty(),
        "the killed run's database is gone already"
    );

    // The team's databases and those of others: only a dead owner's of this
    // host may go.
    let me = std::process::id();
    let start = own_start_time();
    let others = [
        ("migcheck_probe_dead", Some(owner(4_000_000_000, 1)), false),
        ("migcheck_probe_recycled", Some(owner(me, start + 1)), false),
        ("migcheck_probe_live", Some(owner(me, start)), true),
        (
            "migcheck_probe_foreign",
            Some(owner(4_000_000_000, 1).replacen("host=", "host=elsewhere-", 1)),
            true,
        ),
        ("migcheck_probe_plain", None, true),
        (
            "migcheck_probe_team",
            Some("the team scratch database".to_owned()),
            true,
        ),
    ];
    for (name, comment, _) in &others {
        existing.sql(&format!("CREATE DATABASE {name} OWNER team"));
        if let Some(comment) = comment {
            existing.sql(&format!("COMMENT ON DATABASE {name} IS '{comment}'"));
        }
    }

    let output = run(tmp.path(), &["verify", OK_SCENARIO, "--pg", &pg]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let after = existing.databases();
    for database in &left {
        assert!(!after.contains(database), "{database} was left: {after:?}");
    }
    for (name, _, stays) in &others {
        assert_eq!(
            after.contains(&name.to_string()),
            *stays,
            "{name}: {after:?}"
        );
    }
    let mut expected = before;
    expected.extend(others.iter().filter(|o| o.2).map(|o| o.0.to_owned()));
    expected.sort();
    assert_eq!(after, expected);
    assert_nothing_left(tmp.path());
}

/// Three scenarios, in the order verify runs them: the first creates roles
/// (one owns a table, one the team already has), the second a replication
/// slot; the third fails if either is still there.
fn leaky_scenarios(dir: &Path) -> Vec<String> {
    write(
        dir,
        &[
            (
                "m1/001_roles.sql",
                b"DO $$ BEGIN CREATE ROLE migcheck_probe_leak; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE migcheck_probe_kept; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE IF NOT EXISTS owned (id int);
ALTER TABLE owned OWNER TO migcheck_probe_leak;
",
            ),
            (
                "m1/002_grant.sql",
                b"CREATE TABLE IF NOT EXISTS shared (id int);
GRANT SELECT ON shared TO migcheck_probe_leak, migcheck_probe_kept;
",
            ),
            (
                "m2/001_slot.sql",
                b"SELECT pg_create_physical_replication_slot('migcheck_probe_slot')
WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = 'migcheck_probe_slot');
CREATE TABLE IF NOT EXISTS slotted (id int);
",
            ),
            (
                "m3/001_clean.sql",
                b"DO $$ BEGIN
  ASSERT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'migcheck_probe_leak'),
    'a role of another scenario is here';
  ASSERT NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = 'migcheck_probe_slot'),
    'a replication slot of another scenario is here';
END $$;
CREATE TABLE IF NOT EXISTS clean (id int);
",
            ),
            (
                "1-roles.yaml",
                b"name: creates roles\nmigrations: m1\nformat: plain\n",
            ),
            (
                "2-slot.yaml",
                b"name: creates a replication slot\nmigrations: m2\nformat: plain\n",
            ),
            (
                "3-clean.yaml",
                b"name: needs a cluster without them\nmigrations: m3\nformat: plain\n",
            ),
        ],
    );
    ["1-roles.yaml", "2-slot.yaml", "3-clean.yaml"]
        .iter()
        .map(|name| dir.join(name).to_string_lossy().into_owned())
        .collect()
}

/// Creating roles and slots needs more than the role migrations run as
/// by default.
const SUPERUSER: &str = "--superuser";

/// Runs `args` with each sandbox strategy; each run passes, and `then`
/// looks at what it left.
fn passes_in_each_sandbox(tmp: &Path, args: &[&str], then: impl Fn(&str)) {
    for sandbox in ["template", "transaction"] {
        let mut all = args.to_vec();
        all.extend(["--sandbox", sandbox]);
        let output = run(tmp, &all);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{sandbox}: {}",
            text(&output)
        );
        then(sandbox);
    }
}

#[test]
fn roles_and_slots_of_a_scenario_are_gone_before_the_next_on_an_existing_server() {
    let existing = Existing::start();
    let roles_before = existing.column("SELECT rolname::text FROM pg_roles ORDER BY 1");
    let databases_before = existing.databases();
    let input = tempfile::tempdir().expect("temp dir");
    let scenarios = leaky_scenarios(input.path());
    let tmp = private_tmp();
    let pg = existing.url("postgres");
    let mut args = vec!["verify"];
    args.extend(scenarios.iter().map(String::as_str));
    args.extend(["--pg", &pg, "--dsn-allow-superuser"]);
    passes_in_each_sandbox(tmp.path(), &args, |sandbox| {
        assert_eq!(
            existing.column("SELECT rolname::text FROM pg_roles ORDER BY 1"),
            roles_before,
            "{sandbox}: roles were left or lost"
        );
        assert_eq!(
            existing.column("SELECT slot_name::text FROM pg_replication_slots"),
            Vec::<String>::new(),
            "{sandbox}: replication slots were left"
        );
        assert_eq!(existing.databases(), databases_before);
    });
    assert_nothing_left(tmp.path());
}

#[test]
fn roles_and_slots_of_a_scenario_are_gone_before_the_next_on_a_local_server() {
    let input = tempfile::tempdir().expect("temp dir");
    let scenarios = leaky_scenarios(input.path());
    let tmp = private_tmp();
    let mut args = vec!["verify", SUPERUSER];
    args.extend(scenarios.iter().map(String::as_str));
    passes_in_each_sandbox(tmp.path(), &args, |_| {});
    assert_nothing_left(tmp.path());
}

#[test]
fn ctrl_c_removes_the_roles_a_case_made_on_an_existing_server() {
    let existing = Existing::start();
    let roles_before = existing.column("SELECT rolname::text FROM pg_roles ORDER BY 1");
    let input = tempfile::tempdir().expect("temp dir");
    write(
        input.path(),
        &[
            ("m/001_role.sql", b"CREATE ROLE migcheck_probe_signal;\n"),
            ("m/002_slow.sql", b"SELECT pg_sleep(60);\n"),
        ],
    );
    let migrations = input.path().join("m").to_string_lossy().into_owned();
    let tmp = private_tmp();
    let pg = existing.url("postgres");
    let mut child = migcheck(
        tmp.path(),
        &[
            "check",
            "--migrations",
            &migrations,
            "--sandbox",
            "template",
            "--pg",
            &pg,
            "--dsn-allow-superuser",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn migcheck");
    let deadline = Instant::now() + Duration::from_secs(30);
    let made = || {
        existing
            .column("SELECT rolname::text FROM pg_roles WHERE rolname = 'migcheck_probe_signal'")
            .len()
            == 1
    };
    while !made() {
        assert!(Instant::now() < deadline, "the migration made no role");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "migcheck exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = common::interrupt(&mut child);
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        existing.column("SELECT rolname::text FROM pg_roles ORDER BY 1"),
        roles_before,
        "roles were left or lost"
    );
    assert_nothing_left(tmp.path());
}

/// Inside one scenario too: a role a migration makes once (a tracked
/// runner never runs it twice) is no finding of the stages that build the
/// set again after the fresh install (rollback, faults, locks).
#[test]
fn a_role_made_once_is_made_anew_in_every_case_of_a_scenario() {
    let input = tempfile::tempdir().expect("temp dir");
    write(
        input.path(),
        &[
            ("m/001_role.sql", b"CREATE ROLE migcheck_probe_once;\n"),
            (
                "m/002_grant.sql",
                b"CREATE TABLE t (id int);\nGRANT SELECT ON t TO migcheck_probe_once;\n",
            ),
        ],
    );
    let migrations = input.path().join("m").to_string_lossy().into_owned();
    let tmp = private_tmp();
    let args = [
        "check",
        "--migrations",
        &migrations,
        "--runner",
        "tracked",
        SUPERUSER,
    ];
    passes_in_each_sandbox(tmp.path(), &args, |_| {});
    assert_nothing_left(tmp.path());
}
