//! The `migcheck` command: parses the arguments and runs them with the
//! library (`migcheck::cli`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    migcheck::cli::run(migcheck::cli::args::Cli::parse())
}
