//! Statements migcheck refuses to run: those that act outside the
//! databases it created (a shell command on the server's host, the
//! server's configuration, other databases, other sessions, files).
//!
//! Checked on the parse tree before anything runs, so the refusal names the
//! file and line. This is an early, friendly error, not the security
//! boundary: dynamic SQL (`EXECUTE` in a DO block), function bodies and
//! triggers are not seen here. Postgres refuses those, because migrations
//! run as a role without superuser rights (`postgres::MIGRATOR`, or with
//! `--pg dsn:` the URL's user); with `--superuser` nothing does.

use std::path::PathBuf;

use pg_query::NodeEnum;

use crate::migrations::Script;

/// Functions whose effect reaches beyond the sandbox's database.
const OUTSIDE_FUNCTIONS: &[(&str, &str)] = &[
    (
        "pg_terminate_backend",
        "ends another session (or migcheck's own)",
    ),
    ("pg_cancel_backend", "cancels another session's statement"),
    ("pg_reload_conf", "reloads the server's configuration"),
    ("pg_rotate_logfile", "rotates the server's log"),
    ("pg_promote", "promotes a standby server"),
    ("lo_import", "reads a file of the server's host"),
    ("lo_export", "writes a file on the server's host"),
    ("pg_read_file", "reads a file of the server's host"),
    ("pg_read_binary_file", "reads a file of the server's host"),
    ("pg_ls_dir", "lists a directory of the server's host"),
    ("dblink_exec", "runs SQL in another database"),
];

#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {what}; {advice}", file.display())]
pub struct Refused {
    pub file: PathBuf,
    pub line: usize,
    pub what: String,
    pub advice: &'static str,
}

const OUTSIDE: &str = "migcheck does not run statements that act outside the databases it creates. Move it out of the migrations (it belongs in a deployment step), or check the other migrations without it";
const STREAM: &str = "migcheck sends each statement on its own, with no rows to stream; write the rows as INSERT statements (psql's inline COPY data is not SQL)";

/// The first statement of `script` migcheck must not run.
pub fn check(script: &Script) -> Result<(), Refused> {
    for statement in &script.statements {
        let refuse = |what: String, advice| Refused {
            file: script.path.clone(),
            line: statement.line,
            what,
            advice,
        };
        // A statement the parser rejected is the server's to judge; the
        // pipeline notes it as not analysed (`Script::unanalysed`).
        if statement.rejected.is_some() {
            continue;
        }
        let Ok(parsed) = pg_query::parse(&statement.sql) else {
            continue;
        };
        for raw in &parsed.protobuf.stmts {
            let node = raw.stmt.as_ref().and_then(|n| n.node.as_ref());
            let what = match node {
                Some(NodeEnum::CopyStmt(copy)) if copy.is_program => {
                    Some("COPY ... PROGRAM runs a shell command on the server's host")
                }
                Some(NodeEnum::CopyStmt(copy)) if !copy.filename.is_empty() => {
                    Some("COPY with a file name reads or writes a file on the server's host")
                }
                Some(NodeEnum::AlterSystemStmt(_)) => {
                    Some("ALTER SYSTEM changes the configuration of the whole server")
                }
                Some(NodeEnum::DropdbStmt(_)) => {
                    Some("DROP DATABASE drops a database migcheck did not create for this case")
                }
                Some(NodeEnum::CreatedbStmt(_)) => {
                    Some("CREATE DATABASE creates a database outside migcheck's sandboxes")
                }
                Some(NodeEnum::CreateTableSpaceStmt(_) | NodeEnum::DropTableSpaceStmt(_)) => {
                    Some("a tablespace is a directory on the server's host")
                }
                Some(NodeEnum::LoadStmt(_)) => Some("LOAD loads a shared library into the server"),
                _ => None,
            };
            if let Some(what) = what {
                return Err(refuse(what.to_string(), OUTSIDE));
            }
            if let Some(NodeEnum::CopyStmt(_)) = node {
                let what = "COPY ... FROM STDIN / TO STDOUT streams rows to or from a client";
                return Err(refuse(what.to_string(), STREAM));
            }
        }
        for function in parsed.call_functions() {
            let name = function
                .rsplit('.')
                .next()
                .unwrap_or(&function)
                .to_lowercase();
            if let Some((_, what)) = OUTSIDE_FUNCTIONS.iter().find(|(f, _)| *f == name) {
                return Err(refuse(format!("{name}() {what}"), OUTSIDE));
            }
        }
    }
    Ok(())
}
