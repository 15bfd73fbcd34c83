//! The one writer of what the commands print: a text to a file or to
//! standard output, and a report in each `--format` to its `--output`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::args::OutputArgs;
use crate::report::{OutputFormat, Report};

/// Writes `text` to `path`, or to standard output.
pub fn emit(text: &str, path: Option<&Path>) -> anyhow::Result<()> {
    match path {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display())),
        None => {
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Ok(())
        }
    }
}

/// Pairs each `--format` with its `--output` (`None`: standard output).
/// Checked before anything runs, so a typo costs no run.
pub fn destinations(output: &OutputArgs) -> anyhow::Result<Vec<(OutputFormat, Option<PathBuf>)>> {
    let formats = match output.format.as_slice() {
        [] => vec![OutputFormat::Human],
        formats => formats.to_vec(),
    };
    if output.output.len() > formats.len() {
        anyhow::bail!(
            "{} --output but {} --format: give a --format before each --output",
            output.output.len(),
            formats.len()
        );
    }
    if formats.len() > output.output.len() + 1 {
        anyhow::bail!(
            "{} --format but {} --output: only one report can go to standard output; give each other --format an --output FILE",
            formats.len(),
            output.output.len()
        );
    }
    let mut outputs = output.output.iter().cloned().map(Some);
    Ok(formats
        .into_iter()
        .map(|format| (format, outputs.next().flatten()))
        .collect())
}

/// Writes the reports where `--format` and `--output` say, and returns the
/// exit code.
pub fn report(report: &Report, output: &OutputArgs) -> anyhow::Result<u8> {
    for (format, path) in destinations(output)? {
        let to_terminal = path.is_none() && std::io::stdout().is_terminal();
        let color = to_terminal && std::env::var_os("NO_COLOR").is_none();
        emit(&report.render(format, color, output.quiet), path.as_deref())?;
    }
    Ok(report.exit_code() as u8)
}
