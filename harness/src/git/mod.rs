//! What git knows of a migration set: which migrations a branch adds
//! (`changes`) and the versions of the set that were deployed before
//! today's (`past`). Runs the `git` command line, and only reads.

pub mod changes;
pub mod past;

use std::path::Path;
use std::process::{Command, Stdio};

/// A `git` command that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {message}; is git installed?")]
    Missing { message: String },
    #[error("`git {args}` in {dir} failed: {message}")]
    Failed {
        args: String,
        dir: String,
        message: String,
    },
}

/// Runs `git -C dir args...` with `input` on its standard input, and
/// returns its standard output.
fn run(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>, GitError> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| GitError::Missing {
            message: e.to_string(),
        })?;
    // Written from a thread: git may fill its stdout before it has read
    // all of its stdin.
    let writer = input.map(|input| {
        let mut stdin = child.stdin.take().expect("piped");
        let input = input.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        })
    });
    let output = child.wait_with_output().map_err(|e| GitError::Missing {
        message: e.to_string(),
    })?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    if !output.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            dir: dir.display().to_string(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(output.stdout)
}

/// The non-empty lines `git -C dir args...` prints.
fn lines(dir: &Path, args: &[&str]) -> Result<Vec<String>, GitError> {
    Ok(String::from_utf8_lossy(&run(dir, args, None)?)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}
